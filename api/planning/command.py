"""`fieldwork plan`: solve a territory's day from the local database, keep the plan as a draft for the board,
and print a summary, for dispatchers who script their mornings."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.planning.problem_from_db import horizon_origin, territory_problem
from domain import models as m
from domain.enums import PlanKind, PlanState
from scheduling.plan import Plan
from scheduling.solver import solve


async def plan_territory(
    sessionmaker: async_sessionmaker[AsyncSession],
    territory_code: str,
    day: dt.date,
    *,
    days: int = 1,
    time_limit: float = 10.0,
    seed: int = 0,
    out: Callable[[str], None] = print,
) -> int:
    async with sessionmaker() as session:
        session.info["actor"] = "cli:plan"
        territory = await session.scalar(sa.select(m.Territory).where(m.Territory.code == territory_code))
        if territory is None:
            codes = ", ".join(
                (await session.scalars(sa.select(m.Territory.code).order_by(m.Territory.code))).all()
            )
            out(f"no territory with code {territory_code!r}; there are: {codes}")
            return 1
        built = await territory_problem(session, territory, day, days=days)
        result = solve(built.problem, time_limit=time_limit, seed=seed)
        names = dict((await session.execute(sa.select(m.Technician.id, m.Technician.name))).tuples().all())
        plan = m.Plan(
            id=uuid.uuid4(),
            territory_id=territory.id,
            day=day,
            days=days,
            kind=PlanKind.OPTIMIZE,
            state=PlanState.READY,
            time_limit_s=time_limit,
            origin=horizon_origin(territory, day),
            problem=msgspec.to_builtins(built.problem),
            result=msgspec.to_builtins(result),
            set_aside=built.set_aside,
            started_at=dt.datetime.now(dt.UTC),
            finished_at=dt.datetime.now(dt.UTC),
            elapsed_s=(result.solve_ms or 0) / 1000,
            best_objective=float(result.objective.get("total", 0)),
            assigned_so_far=result.totals.assigned,
        )
        session.add(plan)
        await session.commit()
    for line in summary_lines(territory.name, day, built.origin, result, names, plan.id, built.set_aside):
        out(line)
    return 0


def summary_lines(
    territory: str,
    day: dt.date,
    origin: dt.datetime,
    result: Plan,
    names: dict[uuid.UUID, str],
    plan_id: uuid.UUID,
    set_aside: dict[str, str],
) -> list[str]:
    def at(seconds: int) -> str:
        return (origin + dt.timedelta(seconds=seconds)).strftime("%H:%M UTC")

    t = result.totals
    lines = [
        f"{territory}, {day.isoformat()}: {t.assigned} jobs planned, {t.unassigned} left out, "
        f"{t.vehicles_used} technicians, {t.travel_time / 3600:.1f} h travel, solved in {(result.solve_ms or 0) / 1000:.1f} s",
        f"draft plan {plan_id} (review and publish it on the board or with PublishPlan)",
    ]
    for route in result.routes:
        name = names.get(uuid.UUID(route.technician), route.technician)
        lines.append(
            f"  {name}: {len(route.stops)} visits, {at(route.start)} to {at(route.end)}, "
            f"{route.travel_time // 60} min travel"
        )
    for left in result.unassigned:
        lines.append(f"  left out {left.job}: {'; '.join(left.reasons)}")
    for job, why in set_aside.items():
        lines.append(f"  set aside {job}: {why}")
    return lines
