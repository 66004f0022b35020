"""Appointment slots for a job, graded against the day as it stands, and booking one.

"The day as it stands" is the database, not a draft: the territory's problem for that day, with every job that is
assigned placed in its technician's route in planned order (what the technicians have been given, and what earlier
bookings reserved). Each candidate slot is graded by `scheduling.slots.grade_slots`. Booking grades the chosen slot
again under a lock on the territory, so that two customers after the last room get one booking and one refusal with
fresh slots; a booking reserves the room at once by assigning the job, so the next grading sees it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from api.planning.problem_from_db import territory_problem
from api.planning.standing import assignments_in, standing_plan
from domain import models as m
from domain.enums import AppointmentStatus, JobStatus
from domain.errors import Conflict, InvalidInput, NotFound
from domain.principal import Principal
from domain.scoping import visible_jobs
from domain.services import customer_notices
from domain.services.jobs import record_status
from scheduling.areas import compact
from scheduling.plan import Plan
from scheduling.problem import Job, Location, Problem, SkillNeed, Window
from scheduling.slots import SlotGrade, grade_slots
from scheduling.travel import TravelMatrix, build_matrix

SLOT_S = 2 * 3600
BOOKABLE = (JobStatus.NEW, JobStatus.SCHEDULED, JobStatus.REOPENED)


@dataclass(frozen=True, slots=True)
class Slot:
    starts_at: dt.datetime
    ends_at: dt.datetime
    feasible: bool
    cost_s: int | None
    technician_id: uuid.UUID | None
    planned_start: dt.datetime | None


class SlotTaken(Conflict):
    """The slot no longer fits; `slots` are the ones that still do."""

    def __init__(self, slots: list[Slot]) -> None:
        super().__init__("that slot is no longer available; choose one of the slots offered now")
        self.slots = slots


async def _job(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> m.Job:
    job = await session.scalar(visible_jobs(principal).where(m.Job.id == job_id))
    if job is None:
        raise NotFound("job", job_id)
    check_bookable(job)
    return job


def check_bookable(job: m.Job) -> None:
    if job.status not in BOOKABLE:
        raise Conflict(f"a {job.status} job cannot be given a new appointment")
    if job.service_type_id is None:
        raise Conflict("a job must be triaged (given a service type) before slots can be offered")


def candidate_windows(job: m.Job, day: dt.date, days: int, origin: dt.datetime) -> list[tuple[int, int]]:
    """Two-hour slots inside the customer's acceptable windows over the days, on the problem's clock; 08:00 to
    18:00 local (as `origin` counts) when the job has no windows."""
    end = origin + dt.timedelta(days=days)
    spans = [(w.starts_at, w.ends_at) for w in job.time_windows] or [
        (origin + dt.timedelta(days=k, hours=8), origin + dt.timedelta(days=k, hours=18)) for k in range(days)
    ]
    out = []
    for a, b in spans:
        a, b = max(a, origin), min(b, end)
        start = int((a - origin).total_seconds())
        stop = int((b - origin).total_seconds())
        while start + SLOT_S <= stop:
            out.append((start, start + SLOT_S))
            start += SLOT_S
        if start < stop and not out:
            out.append((start, stop))
    return out


@dataclass(frozen=True, slots=True)
class _Day:
    problem: Problem
    plan: Plan
    matrix: TravelMatrix
    origin: dt.datetime
    job: Job


async def _day(session: AsyncSession, job: m.Job, day: dt.date, days: int) -> _Day:
    territory = await session.get_one(m.Territory, job.territory_id)
    built = await territory_problem(session, territory, day, days=days)
    assigned = await assignments_in(session, territory.id, except_job=job.id)
    # Only the work already given to someone shapes the day; the travel matrix is built once, over the places that
    # work, the shifts and this job use.
    kept = [j for j in built.problem.jobs if j.id in assigned]
    problem = compact(built.problem, list(built.problem.technicians), kept)
    site = await session.get_one(m.Site, job.site_id)
    locations = (*problem.locations, Location(x=site.latitude, y=site.longitude))
    problem = msgspec.structs.replace(problem, locations=locations)
    matrix = build_matrix(problem)
    plan = standing_plan(problem, assigned, explain=False, matrix=matrix)
    codes = dict((await session.execute(sa.select(m.Skill.id, m.Skill.code))).tuples().all())
    candidate = Job(
        id=str(job.id),
        location=len(locations) - 1,
        duration=job.duration_s,
        skills=tuple(SkillNeed(skill=codes[s.skill_id], level=s.min_level) for s in job.required_skills),
    )
    return _Day(problem, plan, matrix, built.origin, candidate)


def _slots(graded: list[SlotGrade], origin: dt.datetime) -> list[Slot]:
    def at(seconds: int) -> dt.datetime:
        return origin + dt.timedelta(seconds=seconds)

    return [
        Slot(
            starts_at=at(g.window.start),
            ends_at=at(g.window.end),
            feasible=g.feasible,
            cost_s=g.cost,
            technician_id=uuid.UUID(g.technician) if g.technician else None,
            planned_start=at(g.start) if g.start is not None else None,
        )
        for g in graded
    ]


async def list_slots(
    session: AsyncSession, principal: Principal, job_id: uuid.UUID, day: dt.date | None, days: int = 1
) -> list[Slot]:
    """The job's candidate slots over the days from `day` (tomorrow in the territory's time zone when None):
    feasible ones cheapest first, then the others."""
    job = await _job(session, principal, job_id)
    if day is None:
        territory = await session.get_one(m.Territory, job.territory_id)
        day = dt.datetime.now(ZoneInfo(territory.timezone)).date() + dt.timedelta(days=1)
    return await slots_for(session, job, day, days)


async def slots_for(session: AsyncSession, job: m.Job, day: dt.date, days: int = 1) -> list[Slot]:
    """`list_slots` for a job the caller already holds in scope (a customer's own, through their link)."""
    check_bookable(job)
    standing = await _day(session, job, day, days)
    windows = [Window(start=a, end=b) for a, b in candidate_windows(job, day, days, standing.origin)]
    return _slots(
        grade_slots(standing.problem, standing.plan, standing.job, windows, matrix=standing.matrix),
        standing.origin,
    )


async def book_slot(
    session: AsyncSession,
    principal: Principal,
    job_id: uuid.UUID,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    *,
    offer: bool = False,
) -> tuple[m.Job, Slot, m.Appointment]:
    """Make the slot the job's appointment (confirmed, or offered to the customer to confirm) and reserve the room
    by assigning the job; SlotTaken with the slots still open when it no longer fits."""
    if ends_at <= starts_at:
        raise InvalidInput("ends_at", "a slot ends after it starts")
    job = await _job(session, principal, job_id)
    return await book_for(session, job, starts_at, ends_at, principal, offer=offer)


async def book_for(
    session: AsyncSession,
    job: m.Job,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    actor: Principal | None,
    *,
    offer: bool = False,
) -> tuple[m.Job, Slot, m.Appointment]:
    """`book_slot` for a job the caller already holds in scope; `actor` None is the customer, through their link."""
    if ends_at <= starts_at:
        raise InvalidInput("ends_at", "a slot ends after it starts")
    check_bookable(job)
    # Bookings in one territory take turns: PostgreSQL holds the row until commit (SQLite serialises writers).
    await session.execute(
        sa.select(m.Territory.id).where(m.Territory.id == job.territory_id).with_for_update()
    )
    territory = await session.get_one(m.Territory, job.territory_id)
    local_day = starts_at.astimezone(ZoneInfo(territory.timezone)).date()
    standing = await _day(session, job, local_day, 1)
    start = int((starts_at - standing.origin).total_seconds())
    end = int((ends_at - standing.origin).total_seconds())
    if start < 0:
        raise InvalidInput("starts_at", "the slot starts before its day")
    (grade,) = grade_slots(
        standing.problem, standing.plan, standing.job, [Window(start=start, end=end)], matrix=standing.matrix
    )
    if not grade.feasible or grade.technician is None or grade.start is None:
        windows = [Window(start=a, end=b) for a, b in candidate_windows(job, local_day, 1, standing.origin)]
        fresh = grade_slots(standing.problem, standing.plan, standing.job, windows, matrix=standing.matrix)
        raise SlotTaken([s for s in _slots(fresh, standing.origin) if s.feasible])
    slot = _slots([grade], standing.origin)[0]
    for earlier in (
        await session.scalars(
            sa.select(m.Appointment).where(
                m.Appointment.job_id == job.id,
                m.Appointment.status.in_([AppointmentStatus.CONFIRMED, AppointmentStatus.OFFERED]),
            )
        )
    ).all():
        earlier.status = AppointmentStatus.RESCHEDULED
    appointment = m.Appointment(
        id=uuid.uuid4(),
        job_id=job.id,
        window_start=starts_at,
        window_end=ends_at,
        status=AppointmentStatus.OFFERED if offer else AppointmentStatus.CONFIRMED,
    )
    session.add(appointment)
    technician_id = slot.technician_id
    assert technician_id is not None
    if job.assignment is None:
        job.assignment = m.Assignment(
            job_id=job.id,
            technician_id=technician_id,
            planned_start=slot.planned_start,
            sequence=grade.position or 0,
        )
    else:
        if job.assignment.technician_id != technician_id:
            job.assignment.epoch += 1
        job.assignment.technician_id = technician_id
        job.assignment.planned_start = slot.planned_start
        job.assignment.sequence = grade.position or 0
    if job.status in (JobStatus.NEW, JobStatus.REOPENED):
        record_status(session, job, JobStatus.SCHEDULED, actor, "appointment booked")
    now = dt.datetime.now(dt.UTC)
    job.updated_at = now
    await session.flush()
    if offer:
        await customer_notices.appointment_offered(
            session, job, appointment, now=now, by=actor.user_id if actor else None
        )
    else:
        await customer_notices.appointment_confirmed(session, job, appointment, now=now)
    return job, slot, appointment
