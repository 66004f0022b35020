"""Reaching into the test database from a synchronous test: one committed transaction per call."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

Maker = async_sessionmaker[AsyncSession]


def in_db(sessionmaker: Maker, change: Callable[[AsyncSession], Any], actor: str = "test") -> Any:
    """Run `change(session)` (a coroutine function) in one committed transaction; returns what it returns."""

    async def go() -> Any:
        async with sessionmaker() as s:
            s.info["actor"] = actor
            result = await change(s)
            await s.commit()
            return result

    return asyncio.run(go())


def fetch(sessionmaker: Maker, stmt: Any) -> list[Any]:
    """Every row (first column) the statement selects."""

    async def go(s: AsyncSession) -> list[Any]:
        return list(await s.scalars(stmt))

    result: list[Any] = in_db(sessionmaker, go)
    return result
