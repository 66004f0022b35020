"""Pages of a scoped statement through an advanced-alchemy repository."""

from __future__ import annotations

from typing import Any, TypeVar, cast

import sqlalchemy as sa
from advanced_alchemy.filters import LimitOffset
from advanced_alchemy.repository import SQLAlchemyAsyncRepository

from domain.models import Base

T = TypeVar("T", bound=Base)


async def page(
    repository: SQLAlchemyAsyncRepository[T], statement: sa.Select[T], *, limit: int, offset: int
) -> tuple[list[T], int]:
    # advanced-alchemy 1.x still types statements in SQLAlchemy 2.0's `Select[tuple[T]]` form. The count is a
    # query of its own: a window count rides on the page's rows and reads 0 on a page past the end.
    items, total = await repository.list_and_count(
        LimitOffset(limit=limit, offset=offset),
        statement=cast("Any", statement),
        count_with_window_function=False,
    )
    return list(items), total
