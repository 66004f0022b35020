"""Listing, triage, assignment and status moves of jobs, always within what the principal may see."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain import job_status
from domain import models as m
from domain.classification import SlaTerms, deadlines
from domain.enums import JobStatus, Priority
from domain.errors import Conflict, IllegalTransition, InvalidInput, NotFound, PermissionDenied, StaleVersion
from domain.paging import page
from domain.principal import Principal
from domain.repositories import JobRepository
from domain.scoping import visible_jobs, visible_technicians
from domain.services import customer_notices
from domain.services.catalogue import sla_terms
from domain.services.classify import apply_service_type


@dataclass(frozen=True, slots=True)
class JobFilter:
    statuses: tuple[JobStatus, ...] = ()
    territory_id: uuid.UUID | None = None
    priority: Priority | None = None
    technician_id: uuid.UUID | None = None
    # Jobs with a time window or a planned start on this day (UTC).
    day: dt.date | None = None
    resolve_by_before: dt.datetime | None = None
    needs_triage: bool | None = None


def _filtered(principal: Principal, f: JobFilter) -> sa.Select[m.Job]:
    stmt = visible_jobs(principal)
    if f.statuses:
        stmt = stmt.where(m.Job.status.in_(f.statuses))
    if f.territory_id is not None:
        stmt = stmt.where(m.Job.territory_id == f.territory_id)
    if f.priority is not None:
        stmt = stmt.where(m.Job.priority == f.priority)
    if f.technician_id is not None:
        stmt = stmt.where(
            m.Job.id.in_(sa.select(m.Assignment.job_id).where(m.Assignment.technician_id == f.technician_id))
        )
    if f.day is not None:
        start = dt.datetime.combine(f.day, dt.time(), dt.UTC)
        end = start + dt.timedelta(days=1)
        in_window = sa.select(m.JobTimeWindow.job_id).where(
            m.JobTimeWindow.starts_at < end, m.JobTimeWindow.ends_at > start
        )
        planned = sa.select(m.Assignment.job_id).where(
            m.Assignment.planned_start >= start, m.Assignment.planned_start < end
        )
        stmt = stmt.where(sa.or_(m.Job.id.in_(in_window), m.Job.id.in_(planned)))
    if f.resolve_by_before is not None:
        stmt = stmt.where(m.Job.resolve_by < f.resolve_by_before)
    if f.needs_triage is not None:
        stmt = stmt.where(
            m.Job.service_type_id.is_(None) if f.needs_triage else m.Job.service_type_id.is_not(None)
        )
    return stmt


async def list_jobs(
    session: AsyncSession, principal: Principal, f: JobFilter, *, limit: int, offset: int
) -> tuple[list[m.Job], int]:
    repo = JobRepository(session=session)
    stmt = _filtered(principal, f).order_by(m.Job.resolve_by, m.Job.id)
    return await page(repo, stmt, limit=limit, offset=offset)


async def get_job(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> m.Job:
    job = await session.scalar(visible_jobs(principal).where(m.Job.id == job_id))
    if job is None:
        raise NotFound("job", job_id)
    return job


async def status_history(
    session: AsyncSession, principal: Principal, job_id: uuid.UUID
) -> list[m.JobStatusEvent]:
    """Every status the job has had, oldest first."""
    job = await get_job(session, principal, job_id)
    events = await session.scalars(
        sa.select(m.JobStatusEvent)
        .where(m.JobStatusEvent.job_id == job.id)
        .order_by(m.JobStatusEvent.occurred_at, m.JobStatusEvent.created_at)
    )
    return list(events)


def _check_version(job: m.Job, expected: int | None) -> None:
    if expected is not None and expected != job.version:
        raise StaleVersion(job.version)


def record_status(
    session: AsyncSession,
    job: m.Job,
    to: JobStatus,
    actor: Principal | None,
    reason: str | None,
    *,
    initial: bool = False,
    reported_at: dt.datetime | None = None,
) -> None:
    """Move the job and append the move to its status log; `initial` logs a new job's first status.

    `reported_at` is when a device says the move happened; the log is ordered by the server's clock."""
    session.add(
        m.JobStatusEvent(
            job=job,
            from_status=None if initial else job.status,
            to_status=to,
            actor_user_id=actor.user_id if actor else None,
            reason=reason,
            occurred_at=dt.datetime.now(dt.UTC),
            reported_at=reported_at,
        )
    )
    job.status = to


async def transition(
    session: AsyncSession,
    principal: Principal,
    job_id: uuid.UUID,
    to: JobStatus,
    *,
    reason: str | None = None,
    expected_version: int | None = None,
) -> m.Job:
    job = await get_job(session, principal, job_id)
    _check_version(job, expected_version)
    current = job.status
    if not job_status.is_legal(current, to):
        raise IllegalTransition(current, to)
    if not job_status.may_move(principal.role, current, to):
        raise PermissionDenied(f"a {principal.role} may not move a job from '{current}' to '{to}'")
    if to in job_status.NEEDS_ASSIGNMENT and job.assignment is None:
        raise IllegalTransition(current, to, f"a job must be assigned to a technician before it is '{to}'")
    if to is JobStatus.SCHEDULED and job.service_type_id is None:
        raise IllegalTransition(
            current, to, "a job must be triaged (given a service type) before it is scheduled"
        )
    if to in {JobStatus.CANCELLED, JobStatus.ON_HOLD} and not reason:
        raise InvalidInput("reason", f"a reason is required to move a job to '{to}'")
    if to is JobStatus.COMPLETED:
        raise IllegalTransition(
            current,
            to,
            "a job is completed with CompleteJob (POST /api/jobs/{id}/completion), which checks its checklist "
            "and signature and records the outcome",
        )
    record_status(session, job, to, principal, reason)
    await customer_notices.status_changed(session, job, to, now=dt.datetime.now(dt.UTC))
    await session.flush()
    return job


async def triage(
    session: AsyncSession,
    principal: Principal,
    job_id: uuid.UUID,
    *,
    service_type_id: uuid.UUID | None,
    priority: Priority | None,
    expected_version: int,
) -> m.Job:
    """Give a job its service type and/or priority; classification and deadlines follow from them."""
    job = await get_job(session, principal, job_id)
    _check_version(job, expected_version)
    if job.status not in job_status.OPEN:
        raise Conflict(f"a {job.status} job cannot be triaged")
    service_type = None
    if service_type_id is not None:
        service_type = await session.get(m.ServiceType, service_type_id)
        if service_type is None:
            raise InvalidInput("service_type_id", f"service type {service_type_id} does not exist")
    # Read everything before changing the job, so that it is written once and its version moves by one.
    new_priority = priority or (service_type.default_priority if service_type else job.priority)
    received_at = await _received_at(session, job)
    terms: SlaTerms = await sla_terms(session, new_priority)
    if service_type is not None:
        apply_service_type(job, service_type, keep_priority=True)
    job.priority = new_priority
    due = deadlines(received_at, terms)
    job.respond_by, job.resolve_by = due.respond_by, due.resolve_by
    await session.flush()
    return job


async def _received_at(session: AsyncSession, job: m.Job) -> dt.datetime:
    if job.service_request_id is not None:
        request = await session.get(m.ServiceRequest, job.service_request_id)
        if request is not None:
            return request.received_at
    return job.created_at


async def assign(
    session: AsyncSession,
    principal: Principal,
    job_id: uuid.UUID,
    technician_id: uuid.UUID,
    *,
    planned_start: dt.datetime | None,
    expected_version: int | None = None,
) -> m.Job:
    """Give the job to a technician who holds every required skill at its level; a new job becomes scheduled."""
    job = await get_job(session, principal, job_id)
    _check_version(job, expected_version)
    if job.status not in {JobStatus.NEW, JobStatus.SCHEDULED, JobStatus.REOPENED, JobStatus.ON_HOLD}:
        raise Conflict(f"a job that is '{job.status}' cannot be reassigned; put it on hold first")
    if job.service_type_id is None:
        raise Conflict("a job must be triaged (given a service type) before it is assigned")
    technician = await session.scalar(visible_technicians(principal).where(m.Technician.id == technician_id))
    if technician is None or not technician.active:
        raise InvalidInput("technician_id", f"technician {technician_id} does not exist or is not yours")
    if technician.territory_id != job.territory_id:
        raise InvalidInput("technician_id", "the technician works in another territory than the job")
    levels = {s.skill_id: s.level for s in technician.skills}
    missing = [r for r in job.required_skills if levels.get(r.skill_id, 0) < r.min_level]
    if missing:
        codes = await session.scalars(
            sa.select(m.Skill.code).where(m.Skill.id.in_([r.skill_id for r in missing]))
        )
        raise InvalidInput(
            "technician_id", f"the technician lacks required skills: {', '.join(sorted(codes))}"
        )
    if job.assignment is None:
        job.assignment = m.Assignment(job_id=job.id, technician_id=technician_id, planned_start=planned_start)
    else:
        if job.assignment.technician_id != technician_id:
            job.assignment.epoch += 1
        job.assignment.technician_id = technician_id
        job.assignment.planned_start = planned_start
    if job.status in {JobStatus.NEW, JobStatus.REOPENED}:
        record_status(session, job, JobStatus.SCHEDULED, principal, "assigned")
    # Touch the job so its version moves with its assignment.
    job.updated_at = dt.datetime.now(dt.UTC)
    await session.flush()
    return job
