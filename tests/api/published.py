"""Reading a published plan back from the database and checking it with the scheduler's own validator."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain import models as m
from domain.enums import JobStatus, PlanState
from scheduling.plan import Plan, Route, Stop, Totals, Unassigned
from scheduling.problem import Problem
from scheduling.validate import validate


async def validate_published(sessionmaker: async_sessionmaker[AsyncSession], plan_id: uuid.UUID) -> list[Any]:
    """The plan's problem checked against the assignments now in the database, not against the stored plan."""
    async with sessionmaker() as s:
        plan = await s.get_one(m.Plan, plan_id)
        assert plan.state is PlanState.PUBLISHED
        problem = msgspec.convert(plan.problem, Problem)
        # Break times and when the day begins and ends are not assignments: they come from the published plan.
        published = {r.shift: r for r in msgspec.convert(plan.result, Plan).routes}
        jobs = {j.id: j for j in problem.jobs}
        shift_of = {t.id: sh.id for t, sh in problem.shifts}
        found = (
            await s.execute(
                sa.select(m.Assignment, m.Job.status)
                .join(m.Job)
                .where(m.Job.territory_id == plan.territory_id)
            )
        ).all()
        by_tech: dict[str, list[m.Assignment]] = {}
        for assignment, status in found:
            if str(assignment.job_id) not in jobs:
                continue  # work of another day
            assert status is JobStatus.DISPATCHED
            by_tech.setdefault(str(assignment.technician_id), []).append(assignment)
        routes = []
        for tech, assignments in by_tech.items():
            stops = []
            for a in sorted(assignments, key=lambda a: (a.planned_start, a.sequence)):
                assert a.planned_start is not None
                start = int((a.planned_start - plan.origin).total_seconds())
                job = jobs[str(a.job_id)]
                stops.append(
                    Stop(
                        job=job.id, arrival=start, start=start, end=start + job.duration, travel=0, waiting=0
                    )
                )
            routes.append(
                Route(
                    technician=tech,
                    shift=shift_of[tech],
                    stops=tuple(stops),
                    start=published[shift_of[tech]].start,
                    end=published[shift_of[tech]].end,
                    distance=0,
                    travel_time=0,
                    breaks=published[shift_of[tech]].breaks,
                )
            )
        routed = {s.job for r in routes for s in r.stops}
        stored = Plan(
            routes=tuple(routes),
            unassigned=tuple(Unassigned(job=j.id, reasons=()) for j in problem.jobs if j.id not in routed),
            totals=Totals(
                distance=0, travel_time=0, waiting_time=0, vehicles_used=0, assigned=0, unassigned=0
            ),
        )
        return validate(problem, stored)
