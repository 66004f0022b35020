"""What a transaction makes stale in the daily KPI tallies, noted in that same transaction.

An event is counted on its local day in its territory, and one change can move counts on earlier days: a rating
or a reopened job changes the day of the job's first completion, an answer the day its request came in, a job
moved to another territory both territories. So each change notes, per territory, the earliest day any count of
the jobs it touched can fall on (the request, the job's creation, its deadlines, the device's times of what it
reported), and domain.kpis.store counts those days again before the next report.

The session's flushes collect what they touch (after_flush, like domain.changes); its commit resolves that into
territories and days with a few queries and writes one `kpi_stale` row per territory. A bulk insert or COPY of
events bypasses the unit of work and must call `mark_all`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction, UOWTransaction

from domain import models as m

# The day before anything: a note from it counts every day again.
BEGINNING = dt.date(1970, 1, 1)
_PENDING = "fieldwork.kpis.stale"
_CHUNK = 500

# Rows that belong to one job, and the moments on them that a device reports (and may have got wrong).
_OF_JOB: dict[type[Any], tuple[str, ...]] = {
    m.Assignment: (),
    m.Appointment: (),
    m.JobStatusEvent: ("occurred_at", "reported_at"),
    m.JobCompletion: ("completed_at", "reported_at", "arrived_at"),
    m.Rating: ("rated_at",),
}


@dataclass
class Touched:
    # job -> the earliest device-reported moment seen on its changed rows (None: none)
    jobs: dict[uuid.UUID, dt.datetime | None] = field(default_factory=dict)
    # job -> territories it was in before this transaction moved it
    moved: dict[uuid.UUID, set[uuid.UUID]] = field(default_factory=dict)
    requests: set[uuid.UUID] = field(default_factory=set)
    shifts: set[uuid.UUID] = field(default_factory=set)
    # technician -> the earliest shift start touched (None: all of the technician's shifts)
    technicians: dict[uuid.UUID, dt.datetime | None] = field(default_factory=dict)
    # territory -> the earliest day known directly (complaints, a time zone changed)
    territories: dict[uuid.UUID | None, dt.date] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(
            self.jobs or self.moved or self.requests or self.shifts or self.technicians or self.territories
        )


def _touched(session: Session) -> Touched:
    found = session.info.get(_PENDING)
    if found is None:
        found = session.info[_PENDING] = Touched()
    assert isinstance(found, Touched)
    return found


def _previous(obj: Any, name: str) -> list[Any]:
    """The attribute's values before this flush changed it (none if it did not)."""
    return [v for v in sa.inspect(obj).attrs[name].history.deleted or () if v is not None]


def _earliest(*moments: dt.datetime | None) -> dt.datetime | None:
    known = [moment for moment in moments if moment is not None]
    return min(known) if known else None


def _day(moment: dt.datetime | None) -> dt.date:
    # A UTC moment's local day is at most a day either side of its UTC date.
    if moment is None:
        return BEGINNING
    return max(BEGINNING, moment.date() - dt.timedelta(days=1))


def _lower(into: dict[Any, dt.date], key: Any, day: dt.date) -> None:
    into[key] = min(into.get(key, day), day)


def _note_job_row(found: Touched, job_id: uuid.UUID | None, moments: Iterable[dt.datetime | None]) -> None:
    if job_id is None:
        return
    found.jobs[job_id] = _earliest(found.jobs.get(job_id), *moments)


def _note(found: Touched, obj: Any) -> None:
    model = type(obj)
    if model in _OF_JOB:
        names = _OF_JOB[model]
        moments = [getattr(obj, n) for n in names] + [v for n in names for v in _previous(obj, n)]
        for job_id in {obj.job_id, *_previous(obj, "job_id")}:
            _note_job_row(found, job_id, moments)
    elif model is m.Job:
        _note_job_row(found, obj.id, ())
        for origin in {obj.origin_job_id, *_previous(obj, "origin_job_id")} - {None}:
            _note_job_row(
                found, origin, ()
            )  # a follow-up decides whether its origin was fixed the first time
        old = set(_previous(obj, "territory_id")) - {obj.territory_id}
        if old:
            found.moved.setdefault(obj.id, set()).update(old)
    elif model is m.ServiceRequest:
        found.requests.add(obj.id)
    elif model is m.Complaint:
        since = _day(_earliest(obj.received_at, *_previous(obj, "received_at")))
        for territory in {obj.territory_id, *_previous(obj, "territory_id")}:
            _lower(found.territories, territory, since)
    elif model is m.Shift:
        start = _earliest(obj.starts_at, *_previous(obj, "starts_at"))
        for technician in {obj.technician_id, *_previous(obj, "technician_id")}:
            found.technicians[technician] = _earliest(found.technicians.get(technician, start), start)
    elif model is m.ShiftBreak:
        found.shifts.add(obj.shift_id)
    elif model is m.Technician:
        # Shifts count in their technician's territory: a move changes every day of both.
        for territory in {obj.territory_id, *_previous(obj, "territory_id")}:
            _lower(found.territories, territory, BEGINNING)
    elif model is m.Territory and _previous(obj, "timezone"):
        _lower(found.territories, obj.id, BEGINNING)


def collect(session: Session, _flush: UOWTransaction) -> None:
    """after_flush: note every row the KPIs count that the flush inserted, changed or deleted."""
    found = _touched(session)
    for obj in session.new:
        _note(found, obj)
    for obj in session.dirty:
        if session.is_modified(obj, include_collections=False):
            _note(found, obj)
    for obj in session.deleted:
        if isinstance(obj, m.Job):
            # Gone by the commit, so not found there: every day of its territory.
            _lower(found.territories, obj.territory_id, BEGINNING)
        else:
            _note(found, obj)


def _chunks(ids: Iterable[uuid.UUID]) -> Iterable[list[uuid.UUID]]:
    ordered = sorted(ids, key=str)
    for i in range(0, len(ordered), _CHUNK):
        yield ordered[i : i + _CHUNK]


def _resolve(session: Session, found: Touched) -> dict[uuid.UUID | None, dt.date]:
    """Territory -> the earliest day whose counts may have changed."""
    days = dict(found.territories)
    jobs = dict(found.jobs)
    for chunk in _chunks(found.requests):
        for job_id in session.scalars(sa.select(m.Job.id).where(m.Job.service_request_id.in_(chunk))):
            jobs.setdefault(job_id, None)
    shift_starts = dict(found.technicians)
    for chunk in _chunks(found.shifts):
        for technician, start in session.execute(
            sa.select(m.Shift.technician_id, m.Shift.starts_at).where(m.Shift.id.in_(chunk))
        ):
            shift_starts[technician] = _earliest(shift_starts.get(technician, start), start)
    j, r, c = m.Job, m.ServiceRequest, m.Complaint
    for chunk in _chunks(jobs):
        rows = session.execute(
            sa.select(j.id, j.territory_id, j.created_at, j.respond_by, j.resolve_by, r.received_at)
            .outerjoin(r, r.id == j.service_request_id)
            .where(j.id.in_(chunk))
        )
        since: dict[uuid.UUID, dt.date] = {}
        for job_id, territory, *moments in rows:
            since[job_id] = _day(_earliest(*moments, jobs[job_id]))
            for t in {territory, *found.moved.get(job_id, ())}:
                _lower(days, t, since[job_id])
        # A job's complaints count where they were filed, by the job's service type and technician.
        for about, territory in session.execute(
            sa.select(c.job_id, c.territory_id).where(c.job_id.in_(chunk)).distinct()
        ):
            if about in since:
                _lower(days, territory, since[about])
    for chunk in _chunks(shift_starts):
        for technician, territory in session.execute(
            sa.select(m.Technician.id, m.Technician.territory_id).where(m.Technician.id.in_(chunk))
        ):
            _lower(days, territory, _day(shift_starts[technician]))
    return days


def write(session: Session) -> None:
    """before_commit: turn what the transaction touched into notes, one per territory."""
    if session.in_nested_transaction():
        return
    session.flush()
    found = session.info.pop(_PENDING, None)
    if not found:
        return
    days = _resolve(session, found)
    if days:
        session.execute(
            sa.insert(m.KpiStale),
            [{"territory_id": t, "since": day} for t, day in sorted(days.items(), key=lambda i: str(i[0]))],
        )


def forget(session: Session, transaction: SessionTransaction) -> None:
    """after_transaction_end: a transaction that ended without committing leaves nothing stale."""
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


async def mark_all(session: AsyncSession) -> None:
    """Note that every territory's every day may have changed (after events were written around the ORM)."""
    await session.execute(sa.insert(m.KpiStale).values(territory_id=None, since=BEGINNING))
