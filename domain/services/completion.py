"""Completing a job on site: what must be there first, what the completion records, and what follows from it.

The same rules hold online (CompleteJob) and offline (the `job.complete.v1` mutation, applied when the phone
syncs): the checklist answered, the customer's signature where the service type asks for one (or a remote
sign-off requested because the customer was not there), a reason when a follow-up is needed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain import models as m
from domain import travel
from domain.classification import deadlines
from domain.enums import CompletionOutcome, JobStatus, SealKind, SignOff
from domain.errors import CompletionIncomplete, Conflict, IllegalTransition, InvalidInput, NotFound
from domain.keys import ServerKeys
from domain.principal import Principal
from domain.scoping import visible_jobs
from domain.sealing import seal_job
from domain.services import customer_notices
from domain.services.catalogue import sla_terms
from domain.services.jobs import record_status


@dataclass(frozen=True, slots=True)
class CompletionInput:
    outcome: CompletionOutcome
    follow_up_reason: str | None = None
    summary: str | None = None
    # When and where the device says it happened.
    reported_at: dt.datetime | None = None
    latitude: float | None = None
    longitude: float | None = None
    # The customer was not there to sign: complete, and send them a single-use sign-off link.
    remote_sign_off: bool = False
    # Checklist answers given with the completion (an online client); each replaces an earlier answer.
    answers: Mapping[str, Any] = field(default_factory=dict)


def _answered(value: object) -> bool:
    # `false` is an answer ("no"); nothing, an empty text or an empty list is not.
    return value is not None and value != "" and value != []


def current_completion(job_id: uuid.UUID) -> sa.Select[m.JobCompletion]:
    """The job's completion that stands (a reopened job's earlier ones are superseded)."""
    return sa.select(m.JobCompletion).where(
        m.JobCompletion.job_id == job_id, m.JobCompletion.superseded_at.is_(None)
    )


async def sign_off_due(session: AsyncSession, job: m.Job) -> SignOff:
    """Where the job's sign-off stands before completion: signed on site, not asked for by its service type, or
    still owed (REMOTE_PENDING)."""
    signed = await session.scalar(sa.select(m.JobSignature.id).where(m.JobSignature.job_id == job.id))
    if signed is not None:
        return SignOff.ON_SITE
    service_type = await session.get(m.ServiceType, job.service_type_id) if job.service_type_id else None
    if service_type is not None and service_type.requires_signature:
        return SignOff.REMOTE_PENDING
    return SignOff.NOT_REQUIRED


async def missing_for_completion(
    session: AsyncSession, job: m.Job, sign_off: SignOff, *, remote_sign_off: bool = False
) -> list[str]:
    """What the job still needs before it can complete, in words for the technician."""
    answers: dict[str, object] = dict(
        (
            await session.execute(
                sa.select(m.JobFieldValue.name, m.JobFieldValue.value).where(m.JobFieldValue.job_id == job.id)
            )
        )
        .tuples()
        .all()
    )
    missing = [
        f"checklist item '{item}' is not answered"
        for item in job.checklist
        if not _answered(answers.get(item))
    ]
    if sign_off is SignOff.REMOTE_PENDING and not remote_sign_off:
        missing.append("the customer's signature (or ask for a remote sign-off if they are not there)")
    return missing


async def _record_answers(
    session: AsyncSession, job: m.Job, answers: Mapping[str, Any], technician_id: uuid.UUID | None
) -> None:
    if technician_id is None:
        raise InvalidInput("answers", "only the job's technician answers its checklist")
    unknown = sorted(set(answers) - set(job.checklist) - {"outcome"})
    if unknown:
        raise InvalidInput("answers", f"not on this job's checklist: {', '.join(unknown)}")
    existing = {
        v.name: v
        for v in await session.scalars(sa.select(m.JobFieldValue).where(m.JobFieldValue.job_id == job.id))
    }
    for name, value in answers.items():
        row = existing.get(name)
        if row is None:
            session.add(m.JobFieldValue(job_id=job.id, name=name, value=value, technician_id=technician_id))
        elif row.value != value:
            row.value, row.technician_id = value, technician_id
    await session.flush()


def _moment(event: m.JobStatusEvent) -> dt.datetime:
    return event.reported_at or event.occurred_at


@dataclass(frozen=True, slots=True)
class Visit:
    arrived_at: dt.datetime | None = None
    on_site_s: int | None = None
    travel_s: int | None = None
    travel_m: int | None = None


async def _durations(
    session: AsyncSession, job: m.Job, completed_at: dt.datetime, technician_id: uuid.UUID | None
) -> Visit:
    """The last visit: its arrival, time on site (arrival to completion) and travel (setting out to arrival) in
    seconds, on the device's clock when the moves came from one (offline moves all reach the server at once),
    and the road distance travelled, in metres, estimated from where the technician set out."""
    events = list(
        await session.scalars(
            sa.select(m.JobStatusEvent)
            .where(m.JobStatusEvent.job_id == job.id)
            .order_by(m.JobStatusEvent.occurred_at, m.JobStatusEvent.created_at)
        )
    )
    arrived = next((e for e in reversed(events) if e.to_status is JobStatus.ON_SITE), None)
    if arrived is None:
        return Visit()
    set_out = next(
        (e for e in reversed(events) if e.to_status is JobStatus.EN_ROUTE and _moment(e) <= _moment(arrived)),
        None,
    )
    on_site = max(0, round((completed_at - _moment(arrived)).total_seconds()))
    travel_s = max(0, round((_moment(arrived) - _moment(set_out)).total_seconds())) if set_out else None
    travel_m = None
    if technician_id is not None:
        technician = await session.get_one(m.Technician, technician_id)
        site = await session.get_one(m.Site, job.site_id)
        start = await travel.last_position(session, technician, job.id, _moment(set_out or arrived))
        travel_m = travel.road_metres(start, (site.latitude, site.longitude))
    return Visit(_moment(arrived), on_site, travel_s, travel_m)


async def new_related_job(
    session: AsyncSession, job: m.Job, *, kind: str, description: str, now: dt.datetime
) -> m.Job:
    """A new job for the same customer and place, classified like `job`, with deadlines from now: a follow-up the
    technician asked for, or rework after a complaint."""
    related = m.Job(
        id=uuid.uuid4(),
        service_request_id=job.service_request_id,
        customer_id=job.customer_id,
        site_id=job.site_id,
        territory_id=job.territory_id,
        service_type_id=job.service_type_id,
        priority=job.priority,
        description=f"{description}\n\nFirst visit: {job.description}",
        duration_s=job.duration_s,
        checklist=list(job.checklist),
        parts=list(job.parts),
        tools=list(job.tools),
        suggested_service_type_codes=[],
        required_skills=[
            m.JobRequiredSkill(skill_id=r.skill_id, min_level=r.min_level) for r in job.required_skills
        ],
        time_windows=[],
        assignment=None,
        origin_job_id=job.id,
        origin_kind=kind,
        # Coming back costs us and is not charged again: it counts against the first visit's value.
        value_cents=0,
        status=JobStatus.NEW,
    )
    due = deadlines(now, await sla_terms(session, job.priority))
    related.respond_by, related.resolve_by = due.respond_by, due.resolve_by
    record_status(
        session, related, JobStatus.NEW, None, f"{kind.replace('_', '-')} of job {job.id}", initial=True
    )
    session.add(related)
    # Rows that point at it have no relationship to order them after it: it goes in first.
    await session.flush()
    return related


async def complete(
    session: AsyncSession,
    keys: ServerKeys,
    job: m.Job,
    principal: Principal,
    data: CompletionInput,
    *,
    now: dt.datetime,
    technician_id: uuid.UUID | None,
    reason: str | None = None,
) -> m.JobCompletion:
    """Complete the job (the caller has checked who may, and that the job's status allows it)."""
    if job.status in (JobStatus.COMPLETED, JobStatus.CLOSED):
        raise Conflict("the job is already completed")
    if data.outcome is CompletionOutcome.FOLLOW_UP and not (data.follow_up_reason or "").strip():
        raise InvalidInput("follow_up_reason", "say why a follow-up visit is needed")
    if data.answers:
        await _record_answers(session, job, data.answers, technician_id)
    sign_off = await sign_off_due(session, job)
    missing = await missing_for_completion(session, job, sign_off, remote_sign_off=data.remote_sign_off)
    if missing:
        raise CompletionIncomplete(missing)
    earlier = await session.scalar(current_completion(job.id))
    if earlier is not None:
        # Reopened since (by the office, or by a refused sign-off) and worked again: this completion replaces it.
        earlier.superseded_at = now
    completed_at = data.reported_at or now
    visit = await _durations(session, job, completed_at, technician_id)
    record_status(session, job, JobStatus.COMPLETED, principal, reason, reported_at=data.reported_at)
    completion = m.JobCompletion(
        job_id=job.id,
        technician_id=technician_id,
        outcome=data.outcome,
        follow_up_reason=(data.follow_up_reason or "").strip() or None,
        summary=data.summary,
        completed_at=now,
        reported_at=data.reported_at,
        latitude=data.latitude,
        longitude=data.longitude,
        arrived_at=visit.arrived_at,
        on_site_s=visit.on_site_s,
        travel_s=visit.travel_s,
        travel_m=visit.travel_m,
        sign_off=sign_off,
    )
    session.add(completion)
    if data.outcome is CompletionOutcome.FOLLOW_UP:
        follow_up = await new_related_job(
            session, job, kind="follow_up", description=f"Follow-up: {completion.follow_up_reason}", now=now
        )
        completion.follow_up_job_id = follow_up.id
    await seal_job(session, keys, job, SealKind.COMPLETION, now=now)
    if sign_off is SignOff.REMOTE_PENDING:
        await customer_notices.sign_off_requested(session, job, now=now)
    else:
        await customer_notices.job_completed(session, job, now=now)
    return completion


async def complete_online(
    session: AsyncSession,
    keys: ServerKeys,
    principal: Principal,
    job_id: uuid.UUID,
    data: CompletionInput,
    *,
    now: dt.datetime,
) -> m.JobCompletion:
    """CompleteJob: a technician completing one of their jobs over the network."""
    job = await session.scalar(
        visible_jobs(principal)
        .where(m.Job.id == job_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if job is None:
        raise NotFound("job", job_id)
    if job.status is not JobStatus.IN_PROGRESS:
        raise IllegalTransition(
            job.status,
            JobStatus.COMPLETED,
            f"a job that is '{job.status}' cannot be completed; it must be in progress",
        )
    return await complete(session, keys, job, principal, data, now=now, technician_id=principal.technician_id)
