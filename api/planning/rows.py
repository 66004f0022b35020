"""Loading the rows a plan refers to, keyed by id, in one query per table."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


async def by_id(session: AsyncSession, model: type[T], ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, T]:
    """The rows of `model` with these ids (None ignored), keyed by id."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    column: Any = model.id  # type: ignore[attr-defined]
    rows = (await session.scalars(sa.select(model).where(column.in_(wanted)))).all()
    return {row.id: row for row in rows}  # type: ignore[attr-defined]
