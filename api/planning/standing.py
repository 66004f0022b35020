"""The day as it stands in the database: every assigned job in its technician's route, in planned order.

Slots are graded against it, and re-plans during the day start from it: it is what the technicians have been
given, whatever draft plans exist.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain import models as m
from scheduling.plan import Plan
from scheduling.problem import Problem
from scheduling.solver import plan_from_routes
from scheduling.timeline import can_close, open_cursor, visit
from scheduling.travel import TravelMatrix, build_matrix

# job id -> (technician id, sequence, planned start)
Assignments = dict[str, tuple[str, int, dt.datetime | None]]


async def assignments_in(
    session: AsyncSession, territory_id: uuid.UUID, *, except_job: uuid.UUID | None = None
) -> Assignments:
    stmt = (
        sa.select(
            m.Assignment.job_id, m.Assignment.technician_id, m.Assignment.sequence, m.Assignment.planned_start
        )
        .join(m.Job)
        .where(m.Job.territory_id == territory_id)
    )
    if except_job is not None:
        stmt = stmt.where(m.Job.id != except_job)
    rows = await session.execute(stmt)
    return {str(j): (str(t), s, p) for j, t, s, p in rows.tuples().all()}


def standing_plan(
    problem: Problem,
    assignments: dict[str, tuple[str, int, dt.datetime | None]],
    *,
    explain: bool = True,
    matrix: TravelMatrix | None = None,
) -> Plan:
    """The day as assigned: per shift, its assigned jobs in planned order, as far as the timeline accepts them.
    `explain=False` when only the routes matter (grading slots): the jobs left out are then listed without why."""
    matrix = matrix or build_matrix(problem)
    not_before = problem.freeze_time or 0
    index = {j.id: k for k, j in enumerate(problem.jobs)}
    routes: list[list[int]] = []
    placed: set[int] = set()
    for technician, shift in problem.shifts:
        mine = sorted(
            (
                (seq, planned or dt.datetime.min.replace(tzinfo=dt.UTC), job)
                for job, (tech, seq, planned) in assignments.items()
                if tech == technician.id and job in index
            ),
            key=lambda t: (t[1], t[0]),
        )
        route: list[int] = []
        cursor = open_cursor(shift)
        for _, _, job in mine:
            if index[job] in placed:  # the same technician's other day has it already
                continue
            step = visit(cursor, problem.jobs[index[job]], shift, matrix, not_before=not_before)
            if step is not None and can_close(step[0], shift, matrix):
                cursor = step[0]
                route.append(index[job])
                placed.add(index[job])
        routes.append(route)
    return plan_from_routes(problem, matrix, routes, explain=explain)
