"""Re-planning when the day goes wrong: an emergency, a technician off sick, a job that overruns.

Each starts from the day as it stands (`standing.py`) at the present moment: nothing before now moves, work
started stays where it is, and the answer is a new draft plan for the dispatcher to review and publish, never a
silent change to anyone's day.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from api.planning.pool import SolverPool
from api.planning.problem_from_db import TerritoryProblem, territory_problem
from api.planning.service import PlanRequest, create_plan
from api.planning.standing import assignments_in, standing_plan
from domain import models as m
from domain.enums import JobStatus, PlanKind, PlanState
from domain.errors import Conflict, InvalidInput
from domain.principal import Principal
from domain.scoping import visible_jobs, visible_technicians
from scheduling.plan import Plan
from scheduling.problem import Window
from scheduling.slots import grade_slots
from scheduling.solver import plan_with_routes, retime_changed, sequences_of
from scheduling.travel import build_matrix

URGENT = 3


def _today(territory: m.Territory, now: dt.datetime) -> dt.date:
    return now.astimezone(ZoneInfo(territory.timezone)).date()


def _draft(
    principal: Principal,
    built: TerritoryProblem,
    territory: m.Territory,
    day: dt.date,
    kind: PlanKind,
    result: Plan,
    note: str,
) -> m.Plan:
    now = dt.datetime.now(dt.UTC)
    return m.Plan(
        id=uuid.uuid4(),
        territory_id=territory.id,
        day=day,
        days=1,
        kind=kind,
        state=PlanState.READY,
        time_limit_s=1,
        requested_by_user_id=principal.user_id,
        note=note,
        origin=built.origin,
        problem=msgspec.to_builtins(built.problem),
        result=msgspec.to_builtins(result),
        set_aside=built.set_aside,
        started_at=now,
        finished_at=now,
        elapsed_s=(result.solve_ms or 0) / 1000,
        best_objective=float(result.objective.get("total", 0)),
        assigned_so_far=result.totals.assigned,
    )


async def insert_emergency(
    session: AsyncSession, principal: Principal, pool: SolverPool, job_id: uuid.UUID, time_limit_s: float
) -> m.Plan:
    """The job, made urgent, put into today's routes where it adds least travel without moving anyone else's
    work to another technician (a ready draft); when it fits nowhere that way, a solve of the rest of the day
    from the standing routes (a queued draft), which may leave less important work out to make room."""
    job = await session.scalar(visible_jobs(principal).where(m.Job.id == job_id))
    if job is None:
        raise InvalidInput("job_id", f"job {job_id} does not exist or is not yours")
    if job.status not in (JobStatus.NEW, JobStatus.REOPENED, JobStatus.SCHEDULED):
        raise Conflict(f"a {job.status} job cannot be inserted as an emergency")
    if job.service_type_id is None:
        raise Conflict("a job must be triaged (given a service type) before it is planned")
    territory = await session.get_one(m.Territory, job.territory_id)
    now = dt.datetime.now(dt.UTC)
    day = _today(territory, now)
    built = await territory_problem(session, territory, day, now=now)
    urgent = {j.id: j for j in built.problem.jobs}.get(str(job.id))
    if urgent is None:
        raise Conflict("the job has no window left today; give it one before inserting it")
    urgent = msgspec.structs.replace(urgent, priority=URGENT)
    problem = msgspec.structs.replace(
        built.problem, jobs=tuple(urgent if j.id == urgent.id else j for j in built.problem.jobs)
    )
    built = dataclasses.replace(built, problem=problem)
    standing = standing_plan(
        problem, await assignments_in(session, territory.id, except_job=job.id), explain=False
    )
    matrix = build_matrix(problem)
    start = problem.freeze_time or 0
    windows = list(urgent.windows) or [
        Window(start=start, end=max(start, max(s.end for _, s in problem.shifts)))
    ]
    best = next(iter(grade_slots(problem, standing, urgent, windows, matrix=matrix)), None)
    if best is not None and best.feasible and best.shift is not None and best.position is not None:
        sequences = sequences_of(problem, standing.routes)
        shift_index = [s.id for _, s in problem.shifts].index(best.shift)
        sequences[shift_index].insert(best.position, [j.id for j in problem.jobs].index(urgent.id))
        result = plan_with_routes(
            problem, matrix, retime_changed(problem, matrix, standing.routes, sequences)
        )
        plan = _draft(
            principal, built, territory, day, PlanKind.EMERGENCY, result, f"emergency {job.id} inserted"
        )
        session.add(plan)
        await session.flush()
        return plan
    return await create_plan(
        session,
        principal,
        pool,
        PlanRequest(territory.id, day, 1, time_limit_s, note=f"emergency {job.id}", kind=PlanKind.EMERGENCY),
        built=built,
        hint=standing,
    )


async def replan_absence(
    session: AsyncSession,
    principal: Principal,
    pool: SolverPool,
    technician_id: uuid.UUID,
    day: dt.date | None,
    time_limit_s: float,
) -> m.Plan:
    """The rest of the day without the technician: their remaining work goes back to the pool and is planned
    across the others, starting from everyone else's routes as they stand (a queued draft)."""
    technician = await session.scalar(visible_technicians(principal).where(m.Technician.id == technician_id))
    if technician is None:
        raise InvalidInput("technician_id", f"technician {technician_id} does not exist or is not yours")
    territory = await session.get_one(m.Territory, technician.territory_id)
    now = dt.datetime.now(dt.UTC)
    day = day or _today(territory, now)
    built = await territory_problem(
        session, territory, day, now=now, absent_technician_ids=frozenset({technician_id})
    )
    others = {
        job: held
        for job, held in (await assignments_in(session, territory.id)).items()
        if held[0] != str(technician_id)
    }
    return await create_plan(
        session,
        principal,
        pool,
        PlanRequest(
            territory.id, day, 1, time_limit_s, note=f"{technician.name} absent", kind=PlanKind.ABSENCE
        ),
        built=built,
        hint=standing_plan(built.problem, others, explain=False),
    )


async def replan_overrun(
    session: AsyncSession, principal: Principal, job_id: uuid.UUID, expected_end: dt.datetime
) -> m.Plan:
    """The technician's day re-timed with the job under way ending at `expected_end`: their later visits are
    pushed back, those that no longer fit are left out with the reason, and the plan's `sla_risks` name the
    visits that now end after their deadline (a ready draft)."""
    job = await session.scalar(visible_jobs(principal).where(m.Job.id == job_id))
    if job is None:
        raise InvalidInput("job_id", f"job {job_id} does not exist or is not yours")
    if job.status not in (JobStatus.ON_SITE, JobStatus.IN_PROGRESS) or job.assignment is None:
        raise Conflict("only a job under way on site can overrun")
    now = dt.datetime.now(dt.UTC)
    if expected_end <= now:
        raise InvalidInput("expected_end", "the expected end must be in the future")
    territory = await session.get_one(m.Territory, job.territory_id)
    day = _today(territory, now)
    built = await territory_problem(session, territory, day, now=now)
    under_way = {j.id: j for j in built.problem.jobs}.get(str(job.id))
    if under_way is None or under_way.pin is None or under_way.pin.start is None:
        raise Conflict("the job is not under way on a shift of today's plan")
    end = int((expected_end - built.origin).total_seconds())
    if end <= under_way.pin.start:
        raise InvalidInput("expected_end", "the expected end must come after the job started")
    longer = msgspec.structs.replace(under_way, duration=end - under_way.pin.start)
    problem = msgspec.structs.replace(
        built.problem, jobs=tuple(longer if j.id == longer.id else j for j in built.problem.jobs)
    )
    result = standing_plan(problem, await assignments_in(session, territory.id))
    plan = _draft(
        principal,
        dataclasses.replace(built, problem=problem),
        territory,
        day,
        PlanKind.OVERRUN,
        result,
        f"{job.id} runs until {expected_end.isoformat()}",
    )
    session.add(plan)
    await session.flush()
    return plan
