"""Issue 7: the KPIs' daily tallies are kept up to date without a report asking: by the server's watch every
pass, and by `fieldwork kpis refresh` (after an upgrade or a bulk load)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api import cli
from api.warning_watch import WarningWatch
from domain import models as m
from domain.kpis import store
from tests.domain.kpi_world import KpiWorld

Maker = async_sessionmaker[AsyncSession]


async def _world(engine: AsyncEngine) -> KpiWorld:
    world = KpiWorld(engine)
    async with world.rows():
        await world.base()
    return world


async def _rated(world: KpiWorld, sessionmaker: Maker, days_ago: int, *scores: int) -> None:
    at = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
    async with world.orm(sessionmaker):
        for score in scores:
            await world.rating(await world.job("paris"), score, at)


async def _stored(sessionmaker: Maker) -> tuple[int, int, dt.date | None]:
    """Ratings in the daily tallies, stale notes left, and the first day not stored."""
    async with sessionmaker() as s:
        ratings = await s.scalar(sa.select(sa.func.coalesce(sa.func.sum(m.KpiDay.ratings), 0)))
        notes = await s.scalar(sa.select(sa.func.count()).select_from(m.KpiStale))
        until = await s.scalar(sa.select(m.KpiStore.filled_until))
    return int(ratings or 0), int(notes or 0), until


def test_the_watch_refreshes_the_tallies_after_its_warnings(engine: AsyncEngine, sessionmaker: Maker) -> None:
    asyncio.run(_rated(asyncio.run(_world(engine)), sessionmaker, 10, 3, 5))
    assert asyncio.run(_stored(sessionmaker))[:2] == (0, 1)  # noted stale, nothing counted yet
    watch = WarningWatch(sessionmaker, interval_s=60)
    assert asyncio.run(watch.run_once()) is not None
    ratings, notes, until = asyncio.run(_stored(sessionmaker))
    assert (ratings, notes, watch.failures) == (2, 0, 0)
    assert until == store.closed_before(dt.datetime.now(dt.UTC))


def test_the_command_refreshes_the_tallies(
    database_url: str,
    engine: AsyncEngine,
    sessionmaker: Maker,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)  # the command sets it; put it back afterwards
    world = asyncio.run(_world(engine))
    asyncio.run(_rated(world, sessionmaker, 10, 3, 5))
    assert cli.main(["--database-url", database_url, "kpis", "refresh"]) == 0
    until = store.closed_before(dt.datetime.now(dt.UTC))
    assert f"every day before {until} is stored" in capsys.readouterr().out
    assert asyncio.run(_stored(sessionmaker)) == (2, 0, until)
    # Yesterday's ratings are not closed yet: a report counts them from the events.
    asyncio.run(_rated(world, sessionmaker, 1, 4))
    assert cli.main(["--database-url", database_url, "kpis", "refresh"]) == 0
    assert asyncio.run(_stored(sessionmaker)) == (2, 0, until)
