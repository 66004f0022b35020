"""What deserves an early warning now: the five rules over the database, each giving `Condition`s named by the
subject they are about (domain.services.warnings raises, refreshes and clears the warnings from them).

- `late_arrival:<job>`: today's published work whose predicted arrival (domain.arrivals, from the published route
  and the live statuses) misses the promised window, or whose predicted finish misses the SLA's resolve-by;
- `unconfirmed:<appointment>`: an offered appointment, not confirmed, whose window opens within a day;
- `technician_late:<technician>:<local day>`: the technician's next job will be reached, or set out for, more than
  a grace after its planned start;
- `complaint_deadline:<complaint>:<respond|resolve>:<reopen count>`: a deadline not met and close (or past);
- `sync_exception:<exception>`: an exception from the field nobody resolved for half an hour.

Reads only: nothing here writes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain import job_status, travel
from domain import models as m
from domain.arrivals import Prediction, Stop, behind_plan, minutes, predict
from domain.enums import AppointmentStatus, JobStatus, WarningKind
from domain.services.complaints import OPEN as OPEN_COMPLAINTS

# How close an offered window may come before nobody confirming it is a warning.
UNCONFIRMED_HORIZON = dt.timedelta(hours=24)
# How far behind the published plan a technician may run before it is a warning.
TECHNICIAN_GRACE = dt.timedelta(minutes=15)
# How long before a complaint's deadline a warning is raised: responding takes a call, resolving takes work.
RESPOND_LEAD = dt.timedelta(hours=2)
RESOLVE_LEAD = dt.timedelta(hours=4)
# A sync exception this old with nobody resolving it is a warning.
SYNC_EXCEPTION_AGE = dt.timedelta(minutes=30)

UNDER_WAY = (JobStatus.EN_ROUTE, JobStatus.ON_SITE, JobStatus.IN_PROGRESS)
PLANNED = (JobStatus.SCHEDULED, JobStatus.DISPATCHED, *UNDER_WAY)


@dataclass(frozen=True, slots=True)
class Condition:
    """Something that holds now and deserves a warning; `details` holds JSON values only, so that the figures
    compare equal with those read back from the database."""

    kind: WarningKind
    subject: str
    territory_id: uuid.UUID | None
    message: str
    details: dict[str, Any]
    due_at: dt.datetime | None = None
    job_id: uuid.UUID | None = None
    technician_id: uuid.UUID | None = None
    complaint_id: uuid.UUID | None = None
    sync_exception_id: uuid.UUID | None = None


# Times as the warnings show them --------------------------------------------------------------------------------


def _minute(t: dt.datetime) -> dt.datetime:
    """Figures to the minute: a prediction moving by seconds is not a change worth an update."""
    return t.astimezone(dt.UTC).replace(second=0, microsecond=0)


def _iso(t: dt.datetime | None) -> str | None:
    return None if t is None else _minute(t).isoformat()


def _clock(t: dt.datetime, zone: ZoneInfo, now: dt.datetime) -> str:
    local = t.astimezone(zone)
    return f"{local:%H:%M}" if local.date() == now.astimezone(zone).date() else f"{local:%a %d %b %H:%M}"


def short(text: str, length: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= length else text[: length - 1] + "…"


# Today's routes: late arrivals and technicians behind plan ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Planned:
    job: m.Job
    assignment: m.Assignment
    site: m.Site


async def _planned_work(session: AsyncSession, now: dt.datetime) -> list[_Planned]:
    """Assigned work up to the end of today anywhere (a local day ends within 24 h), and all work under way."""
    rows = await session.execute(
        sa.select(m.Job, m.Assignment, m.Site)
        .join(m.Assignment, m.Assignment.job_id == m.Job.id)
        .join(m.Site, m.Site.id == m.Job.site_id)
        .where(
            m.Job.status.in_(PLANNED),
            m.Assignment.planned_start.is_not(None),
            sa.or_(m.Assignment.planned_start < now + dt.timedelta(days=1), m.Job.status.in_(UNDER_WAY)),
        )
    )
    return [_Planned(job, assignment, site) for job, assignment, site in rows.tuples()]


async def _standing_windows(
    session: AsyncSession, job_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, tuple[dt.datetime, dt.datetime]]:
    """The window of each job's newest appointment still offered or confirmed: the promise that replaces the
    job's own windows."""
    found = await session.execute(
        sa.select(m.Appointment.job_id, m.Appointment.window_start, m.Appointment.window_end)
        .where(
            m.Appointment.job_id.in_(list(job_ids)),
            m.Appointment.status.in_([AppointmentStatus.OFFERED, AppointmentStatus.CONFIRMED]),
        )
        .order_by(m.Appointment.created_at)
    )
    # Oldest first, so the newest one stays.
    return {job_id: (start, end) for job_id, start, end in found.tuples()}


async def _last_moves(
    session: AsyncSession, job_ids: Iterable[uuid.UUID]
) -> dict[tuple[uuid.UUID, JobStatus], dt.datetime]:
    """When each job under way last set out, arrived and started."""
    found = await session.execute(
        sa.select(
            m.JobStatusEvent.job_id, m.JobStatusEvent.to_status, sa.func.max(m.JobStatusEvent.occurred_at)
        )
        .where(m.JobStatusEvent.job_id.in_(list(job_ids)), m.JobStatusEvent.to_status.in_(UNDER_WAY))
        .group_by(m.JobStatusEvent.job_id, m.JobStatusEvent.to_status)
    )
    return {(job_id, status): at for job_id, status, at in found.tuples()}


async def _stop(
    session: AsyncSession,
    planned: _Planned,
    technician: m.Technician,
    windows: dict[uuid.UUID, tuple[dt.datetime, dt.datetime]],
    moves: dict[tuple[uuid.UUID, JobStatus], dt.datetime],
    now: dt.datetime,
) -> Stop:
    job = planned.job
    promised = windows.get(job.id)
    stop = Stop(
        job_id=job.id,
        place=(planned.site.latitude, planned.site.longitude),
        duration=dt.timedelta(seconds=job.duration_s),
        windows=(promised,) if promised else tuple((w.starts_at, w.ends_at) for w in job.time_windows),
        resolve_by=job.resolve_by,
        planned_start=planned.assignment.planned_start,
    )
    if job.status in (JobStatus.ON_SITE, JobStatus.IN_PROGRESS):
        arrived = moves.get((job.id, JobStatus.ON_SITE)) or moves.get((job.id, JobStatus.IN_PROGRESS)) or now
        return dataclasses.replace(stop, arrived_at=arrived)
    if job.status is JobStatus.EN_ROUTE:
        set_out = moves.get((job.id, JobStatus.EN_ROUTE)) or now
        origin = await travel.last_position(session, technician, job.id, set_out)
        return dataclasses.replace(stop, set_out_at=set_out, set_out_from=origin)
    return stop


def _late_arrival(prediction: Prediction, planned: _Planned, zone: ZoneInfo, now: dt.datetime) -> Condition:
    job, stop = planned.job, prediction.stop
    window_miss, resolve_miss = prediction.window_missed_by, prediction.resolve_missed_by
    late_by = prediction.late_by or dt.timedelta(0)
    what = f"Job '{short(job.description)}' at {short(planned.site.address, 80)}"
    if window_miss is not None and stop.window_end is not None:
        reason = (
            f"predicted arrival {_clock(prediction.arrival, zone, now)}, after the promised window ends at "
            f"{_clock(stop.window_end, zone, now)}"
        )
        if resolve_miss is not None:
            reason += f", and finish {_clock(prediction.finish, zone, now)} after its resolve-by"
    else:
        reason = (
            f"predicted to finish at {_clock(prediction.finish, zone, now)}, after its resolve-by "
            f"{_clock(job.resolve_by, zone, now)}"
        )
    due = min(
        d for d in (stop.window_end if window_miss else None, job.resolve_by if resolve_miss else None) if d
    )
    return Condition(
        kind=WarningKind.LATE_ARRIVAL,
        subject=f"late_arrival:{job.id}",
        territory_id=job.territory_id,
        message=f"{what}: {reason} ({minutes(late_by)} min late).",
        details={
            "technician_id": str(planned.assignment.technician_id),
            "status": job.status.value,
            "planned_start": _iso(stop.planned_start),
            "predicted_arrival": _iso(prediction.arrival),
            "predicted_finish": _iso(prediction.finish),
            "window_end": _iso(stop.window_end),
            "resolve_by": _iso(job.resolve_by),
            "misses": [name for name, d in (("window", window_miss), ("resolve_by", resolve_miss)) if d],
            "minutes_late": minutes(late_by),
        },
        due_at=due,
        job_id=job.id,
        technician_id=planned.assignment.technician_id,
    )


def _technician_late(
    predictions: list[Prediction],
    technician: m.Technician,
    by_job: dict[uuid.UUID, _Planned],
    zone: ZoneInfo,
    now: dt.datetime,
) -> Condition | None:
    behind = behind_plan(predictions, now=now, grace=TECHNICIAN_GRACE)
    if behind is None:
        return None
    day = now.astimezone(zone).date()
    job = by_job[behind.stop.job_id].job
    planned_at = _clock(behind.planned_start, zone, now)
    if behind.not_set_out:
        state = f"has not set out for the job planned at {planned_at}"
    else:
        state = f"will reach the job planned at {planned_at} only at {_clock(behind.predicted_arrival, zone, now)}"
    return Condition(
        kind=WarningKind.TECHNICIAN_LATE,
        subject=f"technician_late:{technician.id}:{day.isoformat()}",
        territory_id=technician.territory_id,
        message=(
            f"{technician.name} is {minutes(behind.late_by)} min behind the plan: {state} "
            f"('{short(job.description)}')."
        ),
        details={
            "day": day.isoformat(),
            "next_job_id": str(job.id),
            "planned_start": _iso(behind.planned_start),
            "predicted_arrival": _iso(behind.predicted_arrival),
            "not_set_out": behind.not_set_out,
            "minutes_behind": minutes(behind.late_by),
        },
        due_at=behind.planned_start,
        job_id=job.id,
        technician_id=technician.id,
    )


async def _route_conditions(
    session: AsyncSession, now: dt.datetime, zones: dict[uuid.UUID, ZoneInfo]
) -> list[Condition]:
    work = await _planned_work(session, now)
    if not work:
        return []
    windows = await _standing_windows(session, (p.job.id for p in work))
    moves = await _last_moves(session, (p.job.id for p in work if p.job.status in UNDER_WAY))
    by_technician: dict[uuid.UUID, list[_Planned]] = defaultdict(list)
    for planned in work:
        by_technician[planned.assignment.technician_id].append(planned)
    technicians = {
        t.id: t
        for t in await session.scalars(
            sa.select(m.Technician).where(m.Technician.id.in_(list(by_technician)))
        )
    }
    conditions: list[Condition] = []
    for technician_id, planned_work in by_technician.items():
        technician = technicians[technician_id]
        zone = zones[technician.territory_id]
        conditions += await _technician_day(session, technician, planned_work, windows, moves, zone, now)
    return conditions


async def _technician_day(
    session: AsyncSession,
    technician: m.Technician,
    work: list[_Planned],
    windows: dict[uuid.UUID, tuple[dt.datetime, dt.datetime]],
    moves: dict[tuple[uuid.UUID, JobStatus], dt.datetime],
    zone: ZoneInfo,
    now: dt.datetime,
) -> list[Condition]:
    """Walk the technician's day from where they are. Work planned for an earlier day and never started is
    predicted on its own, as if visited next: chaining it into today would push today's route back by work the
    office has likely moved or forgotten."""
    today = now.astimezone(zone).date()

    def day_of(p: _Planned) -> dt.date:
        assert p.assignment.planned_start is not None
        return p.assignment.planned_start.astimezone(zone).date()

    route = sorted(
        (p for p in work if p.job.status in UNDER_WAY or day_of(p) == today),
        # The published order; a slot booked into the day may share a sequence number, the planned start does not.
        key=lambda p: (p.assignment.planned_start, p.assignment.sequence),
    )
    left_over = [p for p in work if p.job.status not in UNDER_WAY and day_of(p) < today]
    if not route and not left_over:
        return []
    by_job = {p.job.id: p for p in work}
    stops = [await _stop(session, p, technician, windows, moves, now) for p in route]
    start = await travel.last_position(session, technician, (route or left_over)[0].job.id, now)
    predictions = predict(stops, start=start, now=now)
    for p in left_over:
        predictions += predict(
            [await _stop(session, p, technician, windows, moves, now)], start=start, now=now
        )
    conditions = [
        _late_arrival(prediction, by_job[prediction.stop.job_id], zone, now)
        for prediction in predictions
        if prediction.late_by is not None
    ]
    behind = _technician_late(predictions[: len(stops)], technician, by_job, zone, now)
    return [*conditions, *([behind] if behind else [])]


# Appointments, complaints, sync exceptions ----------------------------------------------------------------------


async def _unconfirmed(
    session: AsyncSession, now: dt.datetime, zones: dict[uuid.UUID, ZoneInfo]
) -> list[Condition]:
    rows = await session.execute(
        sa.select(m.Appointment, m.Job)
        .join(m.Job, m.Job.id == m.Appointment.job_id)
        .where(
            m.Appointment.status == AppointmentStatus.OFFERED,
            m.Appointment.window_start > now,
            m.Appointment.window_start <= now + UNCONFIRMED_HORIZON,
            m.Job.status.in_(job_status.OPEN),
        )
    )
    conditions = []
    for appointment, job in rows.tuples():
        zone = zones[job.territory_id]
        local = appointment.window_start.astimezone(zone)
        conditions.append(
            Condition(
                kind=WarningKind.UNCONFIRMED_APPOINTMENT,
                subject=f"unconfirmed:{appointment.id}",
                territory_id=job.territory_id,
                message=(
                    f"The visit for '{short(job.description)}' on {local:%a %d %b} "
                    f"{local:%H:%M}-{appointment.window_end.astimezone(zone):%H:%M} is not confirmed by the "
                    f"customer yet."
                ),
                details={
                    "appointment_id": str(appointment.id),
                    "window_start": _iso(appointment.window_start),
                    "window_end": _iso(appointment.window_end),
                },
                due_at=appointment.window_start,
                job_id=job.id,
            )
        )
    return conditions


async def _complaint_deadlines(
    session: AsyncSession, now: dt.datetime, zones: dict[uuid.UUID, ZoneInfo]
) -> list[Condition]:
    rows = await session.execute(
        sa.select(m.Complaint, m.Customer.name)
        .join(m.Customer, m.Customer.id == m.Complaint.customer_id)
        .where(
            m.Complaint.status.in_(OPEN_COMPLAINTS),
            sa.or_(
                sa.and_(m.Complaint.responded_at.is_(None), m.Complaint.respond_by <= now + RESPOND_LEAD),
                sa.and_(m.Complaint.resolved_at.is_(None), m.Complaint.resolve_by <= now + RESOLVE_LEAD),
            ),
        )
    )
    conditions = []
    for complaint, customer in rows.tuples():
        zone = zones[complaint.territory_id]
        deadlines = []
        if complaint.responded_at is None and complaint.respond_by <= now + RESPOND_LEAD:
            deadlines.append(("respond", "no response yet", complaint.respond_by))
        if complaint.resolved_at is None and complaint.resolve_by <= now + RESOLVE_LEAD:
            deadlines.append(("resolve", "not resolved", complaint.resolve_by))
        for which, state, due in deadlines:
            overdue = due <= now
            when = _clock(due, zone, now)
            conditions.append(
                Condition(
                    kind=WarningKind.COMPLAINT_DEADLINE,
                    subject=f"complaint_deadline:{complaint.id}:{which}:{complaint.reopen_count}",
                    territory_id=complaint.territory_id,
                    message=(
                        f"Complaint ({complaint.category.value}) from {customer}: {state}, "
                        + (f"{which} deadline passed at {when}." if overdue else f"{which} by {when}.")
                    ),
                    details={
                        "deadline": which,
                        "due": _iso(due),
                        "overdue": overdue,
                        "status": complaint.status.value,
                        "owner_user_id": str(complaint.owner_user_id) if complaint.owner_user_id else None,
                    },
                    due_at=due,
                    job_id=complaint.job_id,
                    complaint_id=complaint.id,
                )
            )
    return conditions


async def _stale_sync_exceptions(
    session: AsyncSession, now: dt.datetime, zones: dict[uuid.UUID, ZoneInfo]
) -> list[Condition]:
    found = await session.scalars(
        sa.select(m.SyncException).where(
            m.SyncException.resolved_at.is_(None), m.SyncException.created_at <= now - SYNC_EXCEPTION_AGE
        )
    )
    conditions = []
    for exception in found:
        # Whose dispatchers look at it: the job's territory, else the technician's (as the exceptions list does).
        territory = exception.job.territory_id if exception.job else exception.technician.territory_id
        # "Since" and not "for": a message that does not change with the clock is not rewritten every round.
        since = _clock(exception.created_at, zones[territory], now)
        conditions.append(
            Condition(
                kind=WarningKind.SYNC_EXCEPTION,
                subject=f"sync_exception:{exception.id}",
                territory_id=territory,
                message=(
                    f"Sync exception '{exception.code}' from {exception.technician.name}, unresolved since "
                    f"{since}: {short(exception.detail, 120)}"
                ),
                details={
                    "code": exception.code,
                    "occurrences": exception.occurrences,
                    "since": _iso(exception.created_at),
                },
                due_at=None,
                job_id=exception.job_id,
                technician_id=exception.technician_id,
                sync_exception_id=exception.id,
            )
        )
    return conditions


async def find(session: AsyncSession, *, now: dt.datetime) -> list[Condition]:
    """Everything that deserves a warning now."""
    zones = {t.id: ZoneInfo(t.timezone) for t in await session.scalars(sa.select(m.Territory))}
    return [
        *await _route_conditions(session, now, zones),
        *await _unconfirmed(session, now, zones),
        *await _complaint_deadlines(session, now, zones),
        *await _stale_sync_exceptions(session, now, zones),
    ]
