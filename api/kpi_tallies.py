"""Bringing the KPIs' daily tallies up to date (domain.kpis.store) in a transaction of its own, as a writer: the
server's watch does it every pass, `fieldwork kpis refresh` once, and every KPI request before it reads (so that
the report's own transaction only reads: on SQLite a reader that turns writer can be refused at once)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.db import write_intent
from domain.kpis import store


async def refresh_kpis_once(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    now: dt.datetime,
    write_lock: asyncio.Lock | None = None,
) -> dt.date:
    """Count the days gone stale since the last refresh again; the first day the tallies do not hold. On SQLite the
    process's writers queue on `write_lock` first, as requests do (api.deps.provide_session)."""
    token = write_intent.set(True)
    try:
        async with write_lock or contextlib.nullcontext(), sessionmaker() as session:
            stored_until = await store.refresh_now(session, now)
            await session.commit()
    finally:
        write_intent.reset(token)
    return stored_until
