"""Plans from request to publication: ask, read, cancel, edit, re-optimize, publish.

The scheduler's JSON is stored as it is (`Plan.problem`, `Plan.result`); this module turns rows into a problem,
hands it to the solver pool, applies edits with `scheduling.edits`, and writes a published plan back as
assignments, job statuses and messages to technicians, all in the request's one transaction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from api.planning.pool import SolverPool
from api.planning.problem_from_db import TerritoryProblem, territory_problem
from api.planning.rows import by_id
from domain import job_status
from domain import models as m
from domain.enums import JobStatus, PlanKind, PlanState, Role
from domain.errors import Conflict, InvalidInput, NotFound, RulesBroken, StaleVersion
from domain.principal import Principal
from domain.services.jobs import record_status
from scheduling.edits import EditRefused, Move, Unassign, apply_edit, pin_job
from scheduling.plan import Plan
from scheduling.problem import Problem
from scheduling.validate import Violation, validate

EDITABLE = (PlanState.READY,)
# Statuses a published plan moves: planned work becomes dispatched; work under way is left as it is.
PUBLISHABLE = (JobStatus.NEW, JobStatus.SCHEDULED, JobStatus.DISPATCHED, JobStatus.REOPENED)


def rules_broken(violations: list[Violation]) -> RulesBroken:
    return RulesBroken([(v.rule, v.subject, v.message) for v in violations])


def problem_of(plan: m.Plan) -> Problem:
    return msgspec.convert(plan.problem, Problem)


def result_of(plan: m.Plan) -> Plan | None:
    return None if plan.result is None else msgspec.convert(plan.result, Plan)


def visible_plans(principal: Principal) -> sa.Select[m.Plan]:
    stmt = sa.select(m.Plan)
    if principal.role is Role.ADMIN:
        return stmt
    if principal.role is Role.DISPATCHER:
        return stmt.where(m.Plan.territory_id.in_(principal.territory_ids))
    return stmt.where(sa.false())


async def get_plan(session: AsyncSession, principal: Principal, plan_id: uuid.UUID) -> m.Plan:
    plan = await session.scalar(visible_plans(principal).where(m.Plan.id == plan_id))
    if plan is None:
        raise NotFound("plan", plan_id)
    return plan


async def list_plans(
    session: AsyncSession, principal: Principal, *, territory_id: uuid.UUID | None, day: dt.date | None
) -> list[m.Plan]:
    stmt = visible_plans(principal).order_by(m.Plan.created_at.desc()).limit(50)
    if territory_id is not None:
        stmt = stmt.where(m.Plan.territory_id == territory_id)
    if day is not None:
        stmt = stmt.where(m.Plan.day == day)
    return list((await session.scalars(stmt)).all())


async def _territory(session: AsyncSession, principal: Principal, territory_id: uuid.UUID) -> m.Territory:
    territory = await session.get(m.Territory, territory_id)
    if territory is None or not principal.sees_territory(territory_id):
        raise InvalidInput("territory_id", f"territory {territory_id} does not exist or is not yours")
    return territory


async def published_plan(session: AsyncSession, territory_id: uuid.UUID, day: dt.date) -> m.Plan | None:
    return await session.scalar(
        sa.select(m.Plan)
        .where(m.Plan.territory_id == territory_id, m.Plan.day == day, m.Plan.state == PlanState.PUBLISHED)
        .order_by(m.Plan.published_at.desc())
        .limit(1)
    )


@dataclass(frozen=True, slots=True)
class PlanRequest:
    territory_id: uuid.UUID
    day: dt.date
    days: int
    time_limit_s: float
    note: str | None = None
    kind: PlanKind = PlanKind.OPTIMIZE


async def create_plan(
    session: AsyncSession,
    principal: Principal,
    pool: SolverPool,
    request: PlanRequest,
    *,
    built: TerritoryProblem | None = None,
    hint: Plan | None = None,
    base: m.Plan | None = None,
) -> m.Plan:
    """Store a queued plan and hand it to the pool (PoolFull when every worker is busy: nothing is stored).
    `built` is the problem when the caller has made it already (re-plans), else it is read from the database."""
    territory = await _territory(session, principal, request.territory_id)
    if built is None:
        built = await territory_problem(session, territory, request.day, days=request.days)
    problem = built.problem
    if base is None:
        base = await published_plan(session, territory.id, request.day)
    if hint is None and base is not None:
        hint = result_of(base)
    plan = m.Plan(
        id=uuid.uuid4(),
        territory_id=territory.id,
        day=request.day,
        days=request.days,
        kind=request.kind,
        state=PlanState.QUEUED,
        time_limit_s=request.time_limit_s,
        requested_by_user_id=principal.user_id,
        base_plan_id=base.id if base is not None else None,
        note=request.note,
        origin=built.origin,
        problem=msgspec.to_builtins(problem),
        set_aside=built.set_aside,
    )
    pool.submit(
        plan.id,
        msgspec.json.encode(problem),
        request.time_limit_s,
        msgspec.json.encode(hint) if hint is not None else None,
    )
    session.add(plan)
    await session.flush()
    return plan


async def reoptimize(
    session: AsyncSession, principal: Principal, pool: SolverPool, plan_id: uuid.UUID, time_limit_s: float
) -> m.Plan:
    """A new plan for the same territory and days, from the database as it is now, keeping the source plan's
    pins and starting from its routes."""
    source = await get_plan(session, principal, plan_id)
    territory = await _territory(session, principal, source.territory_id)
    built = await territory_problem(session, territory, source.day, days=source.days)
    pinned = {j.id: j.pin for j in problem_of(source).jobs if j.pin is not None}
    shifts = {s.id for _, s in built.problem.shifts}
    jobs = tuple(
        msgspec.structs.replace(j, pin=pinned[j.id])
        if j.pin is None and j.id in pinned and pinned[j.id].shift in shifts
        else j
        for j in built.problem.jobs
    )
    return await create_plan(
        session,
        principal,
        pool,
        PlanRequest(source.territory_id, source.day, source.days, time_limit_s, kind=source.kind),
        built=dataclasses.replace(built, problem=msgspec.structs.replace(built.problem, jobs=jobs)),
        hint=result_of(source),
    )


async def cancel_plan(
    session: AsyncSession, principal: Principal, pool: SolverPool, plan_id: uuid.UUID
) -> m.Plan:
    plan = await get_plan(session, principal, plan_id)
    if plan.state not in (PlanState.QUEUED, PlanState.RUNNING):
        raise Conflict(f"a {plan.state} plan cannot be cancelled")
    plan.state = PlanState.CANCELLED
    plan.finished_at = dt.datetime.now(dt.UTC)
    pool.stop(plan.id)
    await session.flush()
    return plan


def _check_version(plan: m.Plan, expected: int | None) -> None:
    if expected is not None and expected != plan.version:
        raise StaleVersion(plan.version)


async def edit_plan(
    session: AsyncSession,
    principal: Principal,
    plan_id: uuid.UUID,
    edit: Move | Unassign | str,
    *,
    technician_id: uuid.UUID | None = None,
    expected_version: int | None,
) -> m.Plan:
    """Apply one edit to a ready plan. `edit` is a Move (its shift found from `technician_id`; pinned there too
    when `pin`), an Unassign, or a job id to pin where it is. RulesBroken when the edit would break a hard rule; nothing changes then."""
    plan = await get_plan(session, principal, plan_id)
    _check_version(plan, expected_version)
    if plan.state not in EDITABLE:
        raise Conflict(f"a {plan.state} plan cannot be edited; re-optimize it for a new draft")
    problem, result = problem_of(plan), result_of(plan)
    assert result is not None
    try:
        if isinstance(edit, str):
            plan.problem = msgspec.to_builtins(pin_job(problem, result, edit))
        else:
            if isinstance(edit, Move):
                shift = _shift_for(problem, result, edit.job, technician_id)
                edit = Move(edit.job, shift, edit.position, pin=edit.pin)
            moved = apply_edit(problem, result, edit)
            plan.result = msgspec.to_builtins(moved)
            if isinstance(edit, Move) and edit.pin:
                plan.problem = msgspec.to_builtins(pin_job(problem, moved, edit.job))
    except EditRefused as refused:
        raise rules_broken(refused.violations) from refused
    plan.updated_at = dt.datetime.now(dt.UTC)
    await session.flush()
    return plan


def _shift_for(problem: Problem, plan: Plan, job_id: str, technician_id: uuid.UUID | None) -> str:
    """The technician's shift for the job: the one of the day the job is planned on, else their first."""
    if technician_id is None:
        raise InvalidInput("technician_id", "a move names the technician to take the job")
    own = [s for t, s in problem.shifts if t.id == str(technician_id)]
    if not own:
        raise InvalidInput("technician_id", f"technician {technician_id} has no shift in this plan")
    planned_at = next((s.start for r in plan.routes for s in r.stops if s.job == job_id), None)
    if planned_at is not None:
        same_day = [s for s in own if s.start <= planned_at <= s.end]
        if same_day:
            return same_day[0].id
    return own[0].id


@dataclass(frozen=True, slots=True)
class Published:
    plan: m.Plan
    assignments_written: int
    notifications_queued: int


async def publish_plan(
    session: AsyncSession, principal: Principal, plan_id: uuid.UUID, *, expected_version: int
) -> Published:
    """Write the plan's routes as assignments and planned times, dispatch the work, tell each technician whose
    day changed, and supersede the plan published before. Publishing a published plan again changes nothing."""
    plan = await get_plan(session, principal, plan_id)
    _check_version(plan, expected_version)
    if plan.state is PlanState.PUBLISHED:
        return Published(plan, 0, 0)
    if plan.state not in EDITABLE:
        raise Conflict(f"a {plan.state} plan cannot be published")
    problem, result = problem_of(plan), result_of(plan)
    assert result is not None
    broken = validate(problem, result)
    if broken:
        raise rules_broken(broken)
    jobs = {
        str(i): j for i, j in (await by_id(session, m.Job, (uuid.UUID(j.id) for j in problem.jobs))).items()
    }
    shift_owner = {s.id: t.id for t, s in problem.shifts}
    changed_technicians: set[uuid.UUID] = set()
    written = 0
    for route in result.routes:
        technician_id = uuid.UUID(shift_owner[route.shift])
        for sequence, stop in enumerate(route.stops):
            job = jobs.get(stop.job)
            if job is None or job.status not in PUBLISHABLE:
                continue  # finished, cancelled or under way since the plan was made: reality wins
            planned_start = plan.origin + dt.timedelta(seconds=stop.start)
            previous = job.assignment.technician_id if job.assignment is not None else None
            if _assign(job, technician_id, planned_start, sequence):
                changed_technicians.add(technician_id)
                if previous is not None and previous != technician_id:
                    changed_technicians.add(previous)
                written += 1
            _move_to(session, job, JobStatus.DISPATCHED, principal, f"published in plan {plan.id}")
    for left in result.unassigned:
        job = jobs.get(left.job)
        if job is None or job.assignment is None or job.status not in PUBLISHABLE:
            continue
        changed_technicians.add(job.assignment.technician_id)
        await session.delete(job.assignment)
        job.assignment = None
        _move_to(session, job, JobStatus.NEW, principal, f"left out of plan {plan.id}")
    queued = await _notify(session, plan, result, problem, jobs, changed_technicians)
    await session.execute(
        sa.update(m.Plan)
        .where(
            m.Plan.territory_id == plan.territory_id,
            m.Plan.day == plan.day,
            m.Plan.state == PlanState.PUBLISHED,
            m.Plan.id != plan.id,
        )
        .values(state=PlanState.SUPERSEDED)
        .execution_options(synchronize_session=False)
    )
    plan.state = PlanState.PUBLISHED
    plan.published_at = dt.datetime.now(dt.UTC)
    await session.flush()
    return Published(plan, written, queued)


def _assign(job: m.Job, technician_id: uuid.UUID, planned_start: dt.datetime, sequence: int) -> bool:
    """Give the job its planned technician, start and place in the route; whether anything changed."""
    current = job.assignment
    if current is None:
        job.assignment = m.Assignment(
            job_id=job.id, technician_id=technician_id, planned_start=planned_start, sequence=sequence
        )
        job.updated_at = dt.datetime.now(dt.UTC)
        return True
    if (current.technician_id, current.planned_start, current.sequence) == (
        technician_id,
        planned_start,
        sequence,
    ):
        return False
    if current.technician_id != technician_id:
        current.epoch += 1
    current.technician_id, current.planned_start, current.sequence = technician_id, planned_start, sequence
    job.updated_at = dt.datetime.now(dt.UTC)
    return True


def _move_to(session: AsyncSession, job: m.Job, target: JobStatus, principal: Principal, reason: str) -> None:
    """Walk the job to `target` through legal moves (new -> scheduled -> dispatched, or back to new)."""
    paths = {
        JobStatus.DISPATCHED: (JobStatus.SCHEDULED, JobStatus.DISPATCHED),
        JobStatus.NEW: (JobStatus.SCHEDULED, JobStatus.NEW),
    }
    for step in paths[target]:
        if job.status is target:
            return
        if job_status.is_legal(job.status, step):
            record_status(session, job, step, principal, reason)


async def _notify(
    session: AsyncSession,
    plan: m.Plan,
    result: Plan,
    problem: Problem,
    jobs: dict[str, m.Job],
    technicians: set[uuid.UUID],
) -> int:
    """One message per technician whose day changed: their stops in order, with each customer's contact, the
    place, the time, and the parts and tools the work calls for."""
    if not technicians:
        return 0
    people = await by_id(session, m.Technician, technicians)
    sites = await by_id(session, m.Site, (j.site_id for j in jobs.values()))
    customers = await by_id(session, m.Customer, (j.customer_id for j in jobs.values()))
    types = await by_id(session, m.ServiceType, (j.service_type_id for j in jobs.values()))
    shift_owner = {s.id: uuid.UUID(t.id) for t, s in problem.shifts}
    queued = 0
    for technician_id in sorted(technicians):
        person = people.get(technician_id)
        if person is None:
            continue
        stops = []
        for route in result.routes:
            if shift_owner[route.shift] != technician_id:
                continue
            for stop in route.stops:
                job = jobs.get(stop.job)
                if job is None:
                    continue
                site, customer = sites[job.site_id], customers[job.customer_id]
                kind = types.get(job.service_type_id) if job.service_type_id else None
                stops.append(
                    {
                        "job_id": str(job.id),
                        "start": (plan.origin + dt.timedelta(seconds=stop.start)).isoformat(),
                        "end": (plan.origin + dt.timedelta(seconds=stop.end)).isoformat(),
                        "address": site.address,
                        "access_notes": site.access_notes,
                        "latitude": site.latitude,
                        "longitude": site.longitude,
                        "customer": customer.name,
                        "customer_phone": customer.phone,
                        "customer_email": customer.email,
                        "description": job.description,
                        "service": kind.name if kind else None,
                        "parts": _union(job.parts, kind.parts if kind else []),
                        "tools": _union(job.tools, kind.tools if kind else []),
                    }
                )
        key = f"plan:{plan.id}:technician:{technician_id}"
        exists = await session.scalar(sa.select(m.OutboxMessage.id).where(m.OutboxMessage.key == key))
        if exists is not None:
            continue
        session.add(
            m.OutboxMessage(
                key=key,
                channel="push",
                recipient=person.email or person.phone or str(person.id),
                subject=f"Your day on {plan.day.isoformat()} has changed: {len(stops)} visit(s)",
                body={"plan_id": str(plan.id), "day": plan.day.isoformat(), "stops": stops},
                technician_id=technician_id,
                territory_id=plan.territory_id,
                kind="plan_changed",
                next_attempt_at=dt.datetime.now(dt.UTC),
            )
        )
        queued += 1
    return queued


def _union(own: list[str], typical: list[str]) -> list[str]:
    """The job's own list, then what its service type calls for that it does not name already."""
    return list(dict.fromkeys([*own, *typical]))
