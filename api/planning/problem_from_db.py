"""The scheduling `Problem` of a territory over one or more days, read from the database.

Times become whole seconds from `origin`, midnight at the start of the first day in the territory's time zone.
Ids in the problem are the database ids as strings: jobs, technicians, shifts. Which jobs take part:

- open work of the territory (new with a service type, scheduled, dispatched, reopened) whose windows meet the
  horizon, or that has no window at all; untriaged jobs wait for triage (their skills are unknown);
- dispatched work stays with its technician (pinned; the technician has been told), scheduled work may move;
- work under way (en route, on site, in progress) stays with its technician, and work already started is frozen
  at its start, so a plan for today never moves what is happening.

A confirmed appointment replaces the job's windows: it is what the customer was promised.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy.ext.asyncio import AsyncSession

from domain import models as m
from domain.enums import AppointmentStatus, JobStatus, Priority
from scheduling.problem import (
    Break,
    Job,
    Location,
    Pin,
    Problem,
    Shift,
    SkillNeed,
    Technician,
    Window,
)

PRIORITY = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.URGENT: 3}
PLANNABLE = (JobStatus.NEW, JobStatus.SCHEDULED, JobStatus.DISPATCHED, JobStatus.REOPENED)
UNDER_WAY = (JobStatus.EN_ROUTE, JobStatus.ON_SITE, JobStatus.IN_PROGRESS)
STARTED = (JobStatus.ON_SITE, JobStatus.IN_PROGRESS)


@dataclass(frozen=True, slots=True)
class TerritoryProblem:
    problem: Problem
    origin: dt.datetime
    # Jobs of the territory in the horizon that the plan leaves aside, and why (untriaged work).
    set_aside: dict[str, str]


def horizon_origin(territory: m.Territory, day: dt.date) -> dt.datetime:
    local = dt.datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(territory.timezone))
    return local.astimezone(dt.UTC)


class _Places:
    """Locations by coordinates, each place once."""

    def __init__(self) -> None:
        self.locations: list[Location] = []
        self._index: dict[tuple[float, float], int] = {}

    def at(self, latitude: float, longitude: float) -> int:
        key = (round(latitude, 7), round(longitude, 7))
        if key not in self._index:
            self._index[key] = len(self.locations)
            self.locations.append(Location(x=latitude, y=longitude))
        return self._index[key]


async def territory_problem(
    session: AsyncSession,
    territory: m.Territory,
    day: dt.date,
    *,
    days: int = 1,
    now: dt.datetime | None = None,
    absent_technician_ids: frozenset[uuid.UUID] = frozenset(),
) -> TerritoryProblem:
    now = now or dt.datetime.now(dt.UTC)
    origin = horizon_origin(territory, day)
    end = origin + dt.timedelta(days=days)

    def clock(moment: dt.datetime) -> int:
        return max(0, int((moment - origin).total_seconds()))

    places = _Places()
    skill_codes = dict((await session.execute(sa.select(m.Skill.id, m.Skill.code))).tuples().all())

    technicians_rows = (
        await session.scalars(
            sa.select(m.Technician)
            .where(m.Technician.territory_id == territory.id, m.Technician.active.is_(True))
            .order_by(m.Technician.name)
        )
    ).all()
    shifts_rows = (
        await session.scalars(
            sa.select(m.Shift)
            .where(
                m.Shift.technician_id.in_([t.id for t in technicians_rows]),
                m.Shift.ends_at > max(origin, now),
                m.Shift.starts_at < end,
            )
            .order_by(m.Shift.starts_at)
        )
    ).all()
    by_technician: dict[uuid.UUID, list[m.Shift]] = {}
    for row in shifts_rows:
        by_technician.setdefault(row.technician_id, []).append(row)

    technicians = []
    shift_of_technician: dict[uuid.UUID, list[Shift]] = {}
    for tech in technicians_rows:
        if tech.id in absent_technician_ids:
            continue
        own = []
        for row in by_technician.get(tech.id, []):
            start_at = places.at(
                row.start_latitude if row.start_latitude is not None else tech.home_latitude,
                row.start_longitude if row.start_longitude is not None else tech.home_longitude,
            )
            end_at = places.at(
                row.end_latitude if row.end_latitude is not None else tech.home_latitude,
                row.end_longitude if row.end_longitude is not None else tech.home_longitude,
            )
            own.append(
                Shift(
                    id=str(row.id),
                    start=clock(row.starts_at),
                    end=clock(row.ends_at),
                    start_location=start_at,
                    end_location=end_at,
                    breaks=tuple(
                        Break(
                            earliest_start=clock(b.earliest_start),
                            latest_end=clock(b.latest_end),
                            duration=b.duration_s,
                        )
                        for b in row.breaks
                        if b.latest_end > max(origin, now)
                    ),
                )
            )
        shift_of_technician[tech.id] = own
        technicians.append(
            Technician(
                id=str(tech.id),
                skills={skill_codes[s.skill_id]: s.level for s in tech.skills},
                shifts=tuple(own),
            )
        )

    # Plain rows, not ORM objects: with their windows, skills and assignments loaded as objects, reading a few
    # hundred jobs cost most of a slot request (measured by bench/dispatch.py).
    job_rows = (
        await session.execute(
            sa.select(
                m.Job.id,
                m.Job.status,
                m.Job.site_id,
                m.Job.service_type_id,
                m.Job.priority,
                m.Job.duration_s,
                m.Job.resolve_by,
            )
            .where(m.Job.territory_id == territory.id, m.Job.status.in_((*PLANNABLE, *UNDER_WAY)))
            .order_by(m.Job.resolve_by, m.Job.id)
        )
    ).all()
    job_ids = [j.id for j in job_rows]
    windows_of: dict[uuid.UUID, list[tuple[dt.datetime, dt.datetime]]] = {}
    for job_id, starts_at, ends_at in (
        await session.execute(
            sa.select(m.JobTimeWindow.job_id, m.JobTimeWindow.starts_at, m.JobTimeWindow.ends_at)
            .where(m.JobTimeWindow.job_id.in_(job_ids))
            .order_by(m.JobTimeWindow.starts_at)
        )
    ).tuples():
        windows_of.setdefault(job_id, []).append((starts_at, ends_at))
    needs_of: dict[uuid.UUID, list[tuple[uuid.UUID, int]]] = {}
    for job_id, skill_id, level in (
        await session.execute(
            sa.select(
                m.JobRequiredSkill.job_id, m.JobRequiredSkill.skill_id, m.JobRequiredSkill.min_level
            ).where(m.JobRequiredSkill.job_id.in_(job_ids))
        )
    ).tuples():
        needs_of.setdefault(job_id, []).append((skill_id, level))
    held = {
        job_id: (technician_id, sequence)
        for job_id, technician_id, sequence in (
            await session.execute(
                sa.select(m.Assignment.job_id, m.Assignment.technician_id, m.Assignment.sequence).where(
                    m.Assignment.job_id.in_(job_ids)
                )
            )
        ).tuples()
    }
    sites = {
        site_id: (latitude, longitude)
        for site_id, latitude, longitude in (
            await session.execute(
                sa.select(m.Site.id, m.Site.latitude, m.Site.longitude).where(
                    m.Site.id.in_({j.site_id for j in job_rows})
                )
            )
        ).tuples()
    }
    confirmed = {
        a.job_id: a
        for a in (
            await session.scalars(
                sa.select(m.Appointment).where(
                    m.Appointment.job_id.in_(job_ids),
                    m.Appointment.status == AppointmentStatus.CONFIRMED,
                )
            )
        ).all()
    }
    started_at = await _started_at(session, [j.id for j in job_rows if j.status in STARTED])

    jobs: list[Job] = []
    set_aside: dict[str, str] = {}
    for job in job_rows:
        held_by, sequence = held.get(job.id, (None, 0))
        windows = (
            [(confirmed[job.id].window_start, confirmed[job.id].window_end)]
            if job.id in confirmed
            else windows_of.get(job.id, [])
        )
        in_horizon = [(a, b) for a, b in windows if b > max(origin, now) and a < end]
        if windows and not in_horizon:
            continue
        if job.status is JobStatus.NEW and job.service_type_id is None:
            set_aside[str(job.id)] = "needs triage: no service type yet, so its skills are unknown"
            continue
        pin = None
        if job.status in UNDER_WAY or job.status is JobStatus.DISPATCHED:
            shift = _shift_holding(
                shift_of_technician.get(held_by, []) if held_by else [],
                [(clock(a), clock(b)) for a, b in in_horizon],
            )
            if shift is None:
                if job.status in UNDER_WAY:
                    set_aside[str(job.id)] = "under way with a technician who has no shift left in this plan"
                    continue
            else:
                start = clock(started_at[job.id]) if job.id in started_at else None
                pin = Pin(
                    shift=shift.id,
                    sequence=sequence,
                    start=max(start, shift.start) if start is not None else None,
                )
        latitude, longitude = sites[job.site_id]
        jobs.append(
            Job(
                id=str(job.id),
                location=places.at(latitude, longitude),
                duration=job.duration_s,
                windows=()
                if pin is not None and pin.start is not None
                else tuple(Window(start=clock(a), end=clock(b)) for a, b in in_horizon),
                skills=tuple(
                    SkillNeed(skill=skill_codes[skill_id], level=level)
                    for skill_id, level in needs_of.get(job.id, [])
                ),
                priority=PRIORITY[job.priority],
                due=clock(job.resolve_by),
                pin=pin,
            )
        )
    problem = Problem(
        locations=tuple(places.locations),
        technicians=tuple(technicians),
        jobs=tuple(jobs),
        metric="geodesic",
        freeze_time=clock(now) if now > origin else None,
    )
    return TerritoryProblem(problem=problem, origin=origin, set_aside=set_aside)


def _shift_holding(shifts: list[Shift], windows: list[tuple[int, int]]) -> Shift | None:
    """The technician's shift that meets one of the job's windows (the first shift when it has none)."""
    if not windows:
        return shifts[0] if shifts else None
    return next((s for s in shifts for a, b in windows if a < s.end and b > s.start), None)


async def _started_at(session: AsyncSession, job_ids: list[uuid.UUID]) -> dict[uuid.UUID, dt.datetime]:
    """When each job's work began on site: its latest move to on site."""
    if not job_ids:
        return {}
    rows = await session.execute(
        sa.select(
            m.JobStatusEvent.job_id,
            sa.func.max(m.JobStatusEvent.occurred_at, type_=DateTimeUTC(timezone=True)),
        )
        .where(m.JobStatusEvent.job_id.in_(job_ids), m.JobStatusEvent.to_status == JobStatus.ON_SITE)
        .group_by(m.JobStatusEvent.job_id)
    )
    return {job_id: at for job_id, at in rows.tuples().all() if at is not None}
