"""Early warnings: one evaluation pass raises a warning for each new condition (domain.warning_conditions) and
e-mails the territory's dispatchers in the same transaction, refreshes the figures of those still open, and clears
those whose condition no longer holds, saying why. The office lists and acknowledges them.

Evaluators may run in several processes at once: they take the audit head before touching a warning (as every
writer does), and the partial unique index on open subjects settles a tie that gets past it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from domain import audit, job_status, warning_conditions
from domain import models as m
from domain.enums import AppointmentStatus, JobStatus, MessageChannel, MessageState, Role, WarningKind
from domain.errors import Conflict, NotFound
from domain.paging import page
from domain.principal import Principal
from domain.services.complaints import OPEN as OPEN_COMPLAINTS
from domain.warning_conditions import PLANNED, UNDER_WAY, Condition, short

ACTOR = "system:warnings"
TITLES = {
    WarningKind.LATE_ARRIVAL: "late arrival",
    WarningKind.UNCONFIRMED_APPOINTMENT: "appointment not confirmed",
    WarningKind.TECHNICIAN_LATE: "technician behind plan",
    WarningKind.COMPLAINT_DEADLINE: "complaint deadline",
    WarningKind.SYNC_EXCEPTION: "sync exception",
}


@dataclass
class Report:
    raised: int = 0
    updated: int = 0
    cleared: int = 0
    # E-mails queued to dispatchers for the warnings raised.
    notified: int = 0
    # Warnings open after the pass.
    open: int = 0


# Raising, notifying, refreshing, clearing -----------------------------------------------------------------------


async def _recipients(session: AsyncSession, territory_id: uuid.UUID | None) -> list[m.User]:
    """The territory's active dispatchers; the admins when it has none (a warning nobody reads helps nobody)."""
    if territory_id is not None:
        dispatchers = list(
            await session.scalars(
                sa.select(m.User)
                .join(m.dispatcher_territories, m.dispatcher_territories.c.user_id == m.User.id)
                .where(
                    m.dispatcher_territories.c.territory_id == territory_id,
                    m.User.role == Role.DISPATCHER,
                    m.User.active.is_(True),
                )
                .order_by(m.User.email)
            )
        )
        if dispatchers:
            return dispatchers
    return list(
        await session.scalars(
            sa.select(m.User).where(m.User.role == Role.ADMIN, m.User.active.is_(True)).order_by(m.User.email)
        )
    )


async def _notify(session: AsyncSession, warning: m.EarlyWarning, *, now: dt.datetime) -> int:
    """One e-mail per responsible person, keyed by warning and person: queued once however often asked."""
    text = (
        f"{warning.message}\n\nRaised {warning.raised_at:%Y-%m-%d %H:%M} UTC (warning {warning.id}). "
        "It clears by itself once resolved; acknowledge it to tell the other dispatchers you are on it."
    )
    queued = 0
    for user in await _recipients(session, warning.territory_id):
        session.add(
            m.OutboxMessage(
                key=f"warning:{warning.id}:{user.id}",
                kind="early_warning",
                channel=MessageChannel.EMAIL.value,
                recipient=user.email,
                subject=short(f"Early warning, {TITLES[warning.kind]}: {warning.message}", 300),
                body={"text": text},
                job_id=warning.job_id,
                territory_id=warning.territory_id,
                state=MessageState.PENDING,
                next_attempt_at=now,
                attempts=0,
            )
        )
        queued += 1
    return queued


async def raise_warning(
    session: AsyncSession, condition: Condition, *, now: dt.datetime
) -> m.EarlyWarning | None:
    """Insert the warning in a savepoint; None when another evaluator holds one open for the subject already (the
    unique index refuses the second), in which case nobody is told twice."""
    warning = m.EarlyWarning(
        id=uuid.uuid4(),
        kind=condition.kind,
        subject=condition.subject,
        territory_id=condition.territory_id,
        job_id=condition.job_id,
        technician_id=condition.technician_id,
        complaint_id=condition.complaint_id,
        sync_exception_id=condition.sync_exception_id,
        message=condition.message,
        details=condition.details,
        due_at=condition.due_at,
        raised_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(warning)
    except IntegrityError:
        if await _open_subject(session, condition.subject) is None:
            raise  # not the tie the index settles: a real error
        return None
    return warning


async def _open_subject(session: AsyncSession, subject: str) -> uuid.UUID | None:
    return await session.scalar(
        sa.select(m.EarlyWarning.id).where(
            m.EarlyWarning.subject == subject, m.EarlyWarning.cleared_at.is_(None)
        )
    )


def _refresh(warning: m.EarlyWarning, condition: Condition) -> bool:
    """New figures for an open warning (no new notification); whether anything changed."""
    changed = False
    # The job may have changed hands or territory meanwhile: the warning follows it.
    for name in ("message", "details", "due_at", "technician_id", "territory_id"):
        value = getattr(condition, name)
        if getattr(warning, name) != value:
            setattr(warning, name, value)
            changed = True
    return changed


async def _why_cleared(session: AsyncSession, warning: m.EarlyWarning, now: dt.datetime) -> str:
    """A word for what happened to the subject: `arrived`, `confirmed`, `responded`, `resolved`, `cancelled`..."""
    match warning.kind:
        case WarningKind.LATE_ARRIVAL:
            return await _late_arrival_cleared(session, warning, now)
        case WarningKind.TECHNICIAN_LATE:
            technician = (
                await session.get(m.Technician, warning.technician_id) if warning.technician_id else None
            )
            if technician is None:
                return "gone"
            zone = await _zone(session, technician.territory_id)
            return "back_on_plan" if warning.details.get("day") == _day(now, zone) else "day_over"
        case WarningKind.UNCONFIRMED_APPOINTMENT:
            return await _unconfirmed_cleared(session, warning, now)
        case WarningKind.COMPLAINT_DEADLINE:
            complaint = await session.get(m.Complaint, warning.complaint_id) if warning.complaint_id else None
            if complaint is None:
                return "gone"
            if complaint.status not in OPEN_COMPLAINTS:
                return complaint.status.value
            if warning.details.get("deadline") == "respond" and complaint.responded_at is not None:
                return "responded"
            return "deadline_moved"
        case WarningKind.SYNC_EXCEPTION:
            found = (
                await session.get(m.SyncException, warning.sync_exception_id)
                if warning.sync_exception_id
                else None
            )
            return "gone" if found is None else "resolved"


async def _late_arrival_cleared(session: AsyncSession, warning: m.EarlyWarning, now: dt.datetime) -> str:
    job = await session.get(m.Job, warning.job_id) if warning.job_id else None
    if job is None:
        return "gone"
    outcome = _job_outcome(job)
    planned = job.assignment.planned_start if job.assignment else None
    if outcome is not None or planned is None:
        return outcome or "unplanned"
    zone = await _zone(session, job.territory_id)
    if job.status not in UNDER_WAY and _day(planned, zone) > _day(now, zone):
        return "replanned"
    return "on_time"


async def _unconfirmed_cleared(session: AsyncSession, warning: m.EarlyWarning, now: dt.datetime) -> str:
    appointment_id = warning.details.get("appointment_id")
    appointment = await session.get(m.Appointment, uuid.UUID(appointment_id)) if appointment_id else None
    if appointment is None:
        return "gone"
    if appointment.status is not AppointmentStatus.OFFERED:
        return appointment.status.value
    job = await session.get_one(m.Job, appointment.job_id)
    if job.status not in job_status.OPEN:
        return job.status.value
    return "window_started" if appointment.window_start <= now else "window_moved"


def _job_outcome(job: m.Job) -> str | None:
    """What became of a job that is no longer planned work waiting for its technician, if anything did."""
    if job.status in (JobStatus.ON_SITE, JobStatus.IN_PROGRESS):
        return "arrived"
    if job.status not in PLANNED:
        return job.status.value
    if job.assignment is None or job.assignment.planned_start is None:
        return "unplanned"
    return None


def _day(t: dt.datetime, zone: ZoneInfo) -> str:
    return t.astimezone(zone).date().isoformat()


async def _zone(session: AsyncSession, territory_id: uuid.UUID) -> ZoneInfo:
    territory = await session.get_one(m.Territory, territory_id)
    return ZoneInfo(territory.timezone)


async def evaluate(session: AsyncSession, *, now: dt.datetime) -> Report:
    """One pass: raise what is new (and tell the dispatchers), refresh what is still open, clear what no longer
    holds. The caller commits."""
    session.info.setdefault("actor", ACTOR)
    now = now.astimezone(dt.UTC)
    found = {c.subject: c for c in await warning_conditions.find(session, now=now)}
    # The audit head first, as every writer takes it: evaluators then run one after the other, and each reads the
    # open warnings as the one before left them.
    await session.run_sync(audit.lock_head)
    open_warnings = {
        w.subject: w
        for w in await session.scalars(sa.select(m.EarlyWarning).where(m.EarlyWarning.cleared_at.is_(None)))
    }
    report = Report()
    for subject, condition in found.items():
        warning = open_warnings.get(subject)
        if warning is None:
            raised = await raise_warning(session, condition, now=now)
            if raised is not None:
                report.raised += 1
                report.notified += await _notify(session, raised, now=now)
        elif _refresh(warning, condition):
            report.updated += 1
    for subject, warning in open_warnings.items():
        if subject not in found:
            warning.cleared_reason = await _why_cleared(session, warning, now)
            warning.cleared_at = now
            report.cleared += 1
    await session.flush()
    report.open = len(found)
    return report


# The office's side: listing and acknowledging -------------------------------------------------------------------


class WarningRepository(SQLAlchemyAsyncRepository[m.EarlyWarning]):
    model_type = m.EarlyWarning


class WarningState(StrEnum):
    """Which warnings a list shows: `open` is every warning not cleared, acknowledged or not."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"
    ALL = "all"


@dataclass(frozen=True, slots=True)
class WarningFilter:
    state: WarningState = WarningState.OPEN
    kind: WarningKind | None = None
    territory_id: uuid.UUID | None = None
    job_id: uuid.UUID | None = None


def visible_warnings(principal: Principal) -> sa.Select[m.EarlyWarning]:
    """An admin sees every warning; a dispatcher those of their territories; a technician none."""
    stmt = sa.select(m.EarlyWarning)
    if principal.role is Role.ADMIN:
        return stmt
    if principal.role is Role.DISPATCHER:
        return stmt.where(m.EarlyWarning.territory_id.in_(principal.territory_ids))
    return stmt.where(sa.false())


def _in_state(state: WarningState) -> sa.ColumnElement[bool]:
    match state:
        case WarningState.OPEN:
            return m.EarlyWarning.cleared_at.is_(None)
        case WarningState.ACKNOWLEDGED:
            return sa.and_(m.EarlyWarning.cleared_at.is_(None), m.EarlyWarning.acknowledged_at.is_not(None))
        case WarningState.CLEARED:
            return m.EarlyWarning.cleared_at.is_not(None)
        case WarningState.ALL:
            return sa.true()


async def list_warnings(
    session: AsyncSession, principal: Principal, wanted: WarningFilter, *, limit: int, offset: int
) -> tuple[list[m.EarlyWarning], int]:
    stmt = visible_warnings(principal).where(_in_state(wanted.state))
    if wanted.kind is not None:
        stmt = stmt.where(m.EarlyWarning.kind == wanted.kind)
    if wanted.territory_id is not None:
        stmt = stmt.where(m.EarlyWarning.territory_id == wanted.territory_id)
    if wanted.job_id is not None:
        stmt = stmt.where(m.EarlyWarning.job_id == wanted.job_id)
    # The nearest deadline first; warnings without one (sync exceptions) after, the oldest first.
    ordered = stmt.order_by(
        m.EarlyWarning.due_at.is_(None), m.EarlyWarning.due_at, m.EarlyWarning.raised_at, m.EarlyWarning.id
    )
    return await page(WarningRepository(session=session), ordered, limit=limit, offset=offset)


async def acknowledge(
    session: AsyncSession, principal: Principal, warning_id: uuid.UUID, *, now: dt.datetime
) -> m.EarlyWarning:
    """Someone is on it: the first acknowledgement is kept (asking again changes nothing); a cleared warning has
    nothing left to acknowledge (409)."""
    # The audit head before the row, the order the evaluator takes them in.
    await session.run_sync(audit.lock_head)
    warning = await session.scalar(
        visible_warnings(principal).where(m.EarlyWarning.id == warning_id).with_for_update()
    )
    if warning is None:
        raise NotFound("warning", warning_id)
    if warning.cleared_at is not None:
        raise Conflict(
            f"the warning cleared ({warning.cleared_reason}) at {warning.cleared_at:%Y-%m-%d %H:%M} UTC"
        )
    if warning.acknowledged_at is None:
        warning.acknowledged_at = now
        warning.acknowledged_by = principal.user_id
        await session.flush()
    return warning
