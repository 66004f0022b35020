"""`fieldwork plan`: a territory's day solved from the database, kept as a draft, summarised for the console."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.planning.command import plan_territory
from domain import models as m
from domain.enums import PlanState
from tests.api.test_plans import TOMORROW, day  # noqa: F401 - the fixture with tomorrow's shifts
from tests.conftest import World


def test_planning_a_territory_prints_the_day_and_keeps_a_draft(
    day: World,  # noqa: F811
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    lines: list[str] = []
    code = asyncio.run(plan_territory(sessionmaker, "north", TOMORROW, time_limit=1, out=lines.append))
    assert code == 0
    assert "6 jobs planned" in lines[0]
    assert any(line.strip().startswith("tech_n1:") for line in lines)
    assert any("set aside" in line and "needs triage" in line for line in lines)

    async def drafts() -> list[m.Plan]:
        async with sessionmaker() as s:
            return list((await s.scalars(sa.select(m.Plan))).all())

    (plan,) = asyncio.run(drafts())
    assert plan.state is PlanState.READY
    assert plan.result is not None
    assert plan.result["totals"]["assigned"] == 6


def test_an_unknown_territory_is_refused_with_the_codes_there_are(
    day: World,  # noqa: F811
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    lines: list[str] = []
    assert asyncio.run(plan_territory(sessionmaker, "atlantis", TOMORROW, out=lines.append)) == 1
    assert "north" in lines[0]
    assert "south" in lines[0]
