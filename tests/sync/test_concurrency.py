"""(5) Paging under concurrent writes never skips or repeats a change: real parallel writers, some holding the
space's version lock while they dawdle before committing, and a pager pulling two changes at a time."""

from __future__ import annotations

import asyncio
import random
import threading
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain import changes
from domain import models as m
from domain.db import create_engine
from domain.session import AuditedSession
from sync import devices, pull
from sync.protocol import DeviceIn, PullIn
from tests.conftest import World

WRITERS = 6
NOTES_EACH = 15


def _maker(database_url: str) -> tuple[Any, async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url, poolclass=sa.pool.NullPool)
    return engine, async_sessionmaker(engine, expire_on_commit=False, sync_session_class=AuditedSession)


async def _write(database_url: str, job_id: uuid.UUID, technician_id: uuid.UUID, seed: int) -> set[uuid.UUID]:
    engine, maker = _maker(database_url)
    rng = random.Random(seed)
    written: set[uuid.UUID] = set()
    try:
        for _ in range(NOTES_EACH):
            async with maker() as session:
                note = m.JobNote(
                    id=uuid.uuid4(), job_id=job_id, technician_id=technician_id, body="concurrent"
                )
                session.add(note)
                if rng.random() < 0.3:
                    # Take the version (and its lock) now, then dawdle: a slow transaction committing late.
                    await session.run_sync(changes.stamp)
                    await asyncio.sleep(rng.uniform(0.005, 0.05))
                await session.commit()
                written.add(note.id)
    finally:
        await engine.dispose()
    return written


async def _page_until_done(
    database_url: str, technician_id: uuid.UUID, device_id: uuid.UUID, stop: threading.Event
) -> list[tuple[str, uuid.UUID, int]]:
    engine, maker = _maker(database_url)
    seen: list[tuple[str, uuid.UUID, int]] = []
    cursor: str | None = None
    try:
        # Start from a delta cursor taken before any writer: every change arrives through paging.
        async with maker() as session:
            cursor = str((await pull.space(session)).version)
        while True:
            # Read before the pull: only a pull that began after every writer finished may end the paging.
            writers_done = stop.is_set()
            async with maker() as session:
                if session.get_bind().dialect.name == "postgresql":
                    await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
                page = await pull.pull(
                    session,
                    technician_id,
                    PullIn(device_id=device_id, schema_version=1, cursor=cursor, limit=2),
                )
            seen += [(c.table, c.id, c.version) for c in page.changes]
            cursor = page.cursor
            if writers_done and not page.has_more:
                return seen
            await asyncio.sleep(0.002)
    finally:
        await engine.dispose()


@pytest.mark.usefixtures("world")
def test_parallel_writers_and_a_slow_pager_see_every_change_once(
    database_url: str, is_postgres: bool, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    if not is_postgres:
        pytest.skip("SQLite has one writer at a time; the race needs PostgreSQL's parallel writers")
    technician_id, job_id = world.technicians["tech_n1"], world.jobs["north_assigned"]
    device_id = uuid.uuid4()

    async def register() -> None:
        async with sessionmaker() as session:
            await devices.register(
                session, technician_id, DeviceIn(device_id=device_id, app_version="t", schema_version=1)
            )
            await session.commit()

    asyncio.run(register())
    stop = threading.Event()
    results: dict[str, Any] = {}

    def pager() -> None:
        results["seen"] = asyncio.run(_page_until_done(database_url, technician_id, device_id, stop))

    def writer(seed: int) -> None:
        results[f"w{seed}"] = asyncio.run(_write(database_url, job_id, technician_id, seed))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    paging = threading.Thread(target=pager)
    paging.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    paging.join(timeout=60)
    written = set().union(*(results[f"w{i}"] for i in range(WRITERS)))
    seen = results["seen"]
    notes = [row_id for table, row_id, _ in seen if table == "job_notes"]
    assert len(written) == WRITERS * NOTES_EACH
    assert sorted(map(str, notes)) == sorted(map(str, written))  # none skipped, none repeated
    versions = [version for _, _, version in seen]
    assert versions == sorted(versions)  # commit order
