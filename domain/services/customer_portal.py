"""What a customer link shows and lets its holder do, always within the link's own job (and complaint).

The caller has opened the link (domain.links.open_link) and checked its purpose; nothing here takes an id from the
customer. The view holds only what a customer may read: no internal notes, no technician's phone, no other job.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain import links
from domain import models as m
from domain.enums import (
    AppointmentStatus,
    Channel,
    ComplaintCategory,
    ComplaintStatus,
    JobStatus,
    SealKind,
    SignOff,
)
from domain.errors import Conflict, InvalidInput
from domain.keys import ServerKeys
from domain.sealing import seal_job
from domain.services import complaints, customer_notices
from domain.services.completion import current_completion
from domain.services.jobs import record_status

# The stages a customer follows, in order, and the job statuses each covers.
STAGES: list[tuple[str, frozenset[JobStatus]]] = [
    (
        "scheduled",
        frozenset(
            {JobStatus.NEW, JobStatus.SCHEDULED, JobStatus.DISPATCHED, JobStatus.ON_HOLD, JobStatus.REOPENED}
        ),
    ),
    ("on_the_way", frozenset({JobStatus.EN_ROUTE})),
    ("on_site", frozenset({JobStatus.ON_SITE, JobStatus.IN_PROGRESS})),
    ("done", frozenset({JobStatus.COMPLETED, JobStatus.CLOSED})),
]


def stage_of(status: JobStatus) -> str:
    if status is JobStatus.CANCELLED:
        return "cancelled"
    return next(name for name, statuses in STAGES if status in statuses)


@dataclass(frozen=True, slots=True)
class ActionView:
    kind: str
    note: str | None
    at: dt.datetime
    by_customer: bool


@dataclass(frozen=True, slots=True)
class ComplaintView:
    category: str
    description: str
    status: str
    received_at: dt.datetime
    respond_by: dt.datetime
    resolve_by: dt.datetime
    resolution: str | None
    customer_satisfied: bool | None
    actions: list[ActionView]
    awaiting_verdict: bool


@dataclass(frozen=True, slots=True)
class VisitView:
    customer_name: str
    service: str
    address: str
    status: str
    stage: str
    window_start: dt.datetime | None
    window_end: dt.datetime | None
    appointment_status: str | None
    technician: str | None
    eta: dt.datetime | None
    timezone: str
    completed_at: dt.datetime | None
    outcome: str | None
    summary: str | None
    sign_off: str | None
    parts: list[tuple[str, float]]
    rating: int | None
    rating_comment: str | None
    complaint: ComplaintView | None = None
    stages: list[str] = field(default_factory=lambda: [name for name, _ in STAGES])


def standing_appointment(job_id: uuid.UUID) -> sa.Select[m.Appointment]:
    """The job's newest appointment still offered or confirmed."""
    return (
        sa.select(m.Appointment)
        .where(
            m.Appointment.job_id == job_id,
            m.Appointment.status.in_([AppointmentStatus.CONFIRMED, AppointmentStatus.OFFERED]),
        )
        .order_by(m.Appointment.created_at.desc())
        .limit(1)
    )


async def _appointment(session: AsyncSession, link: m.CustomerLink, job: m.Job) -> m.Appointment | None:
    if link.appointment_id is not None:
        return await session.get(m.Appointment, link.appointment_id)
    return await session.scalar(standing_appointment(job.id))


async def _eta(session: AsyncSession, job: m.Job) -> dt.datetime | None:
    if job.status is not JobStatus.EN_ROUTE:
        return None
    set_out = await session.scalar(
        sa.select(m.JobStatusEvent.occurred_at)
        .where(m.JobStatusEvent.job_id == job.id, m.JobStatusEvent.to_status == JobStatus.EN_ROUTE)
        .order_by(m.JobStatusEvent.occurred_at.desc())
        .limit(1)
    )
    return await customer_notices.estimated_arrival(session, job, set_out) if set_out else None


async def complaint_view(session: AsyncSession, complaint: m.Complaint) -> ComplaintView:
    # The customer reads what was done, not the office's private notes.
    shown = [a for a in await complaints.actions(session, complaint) if a.kind.value != "note"]
    return ComplaintView(
        category=complaint.category.value,
        description=complaint.description,
        status=complaint.status.value,
        received_at=complaint.received_at,
        respond_by=complaint.respond_by,
        resolve_by=complaint.resolve_by,
        resolution=complaint.resolution,
        customer_satisfied=complaint.customer_satisfied,
        actions=[ActionView(a.kind.value, a.note, a.occurred_at, a.by_customer) for a in shown],
        awaiting_verdict=complaint.status is ComplaintStatus.RESOLVED,
    )


async def visit_view(session: AsyncSession, opened: links.OpenLink) -> VisitView:
    job, link = opened.job, opened.link
    customer = await session.get_one(m.Customer, job.customer_id)
    site = await session.get_one(m.Site, job.site_id)
    territory = await session.get_one(m.Territory, job.territory_id)
    kind = await session.get(m.ServiceType, job.service_type_id) if job.service_type_id else None
    appointment = await _appointment(session, link, job)
    technician = (
        await session.get(m.Technician, job.assignment.technician_id) if job.assignment is not None else None
    )
    completion = await session.scalar(current_completion(job.id))
    rating = await session.scalar(sa.select(m.Rating).where(m.Rating.job_id == job.id))
    parts = (
        await session.execute(
            sa.select(m.JobPartLine.part, m.JobPartLine.quantity)
            .where(m.JobPartLine.job_id == job.id)
            .order_by(m.JobPartLine.created_at)
        )
    ).tuples()
    complaint = await session.get(m.Complaint, link.complaint_id) if link.complaint_id else None
    return VisitView(
        customer_name=customer.name,
        service=kind.name if kind else "Service visit",
        address=site.address,
        status=job.status.value,
        stage=stage_of(job.status),
        window_start=appointment.window_start if appointment else None,
        window_end=appointment.window_end if appointment else None,
        appointment_status=appointment.status.value if appointment else None,
        # The first name only: the customer meets the technician, they do not get their details.
        technician=technician.name.split()[0] if technician else None,
        eta=await _eta(session, job),
        timezone=territory.timezone,
        completed_at=completion.completed_at if completion else None,
        outcome=completion.outcome.value if completion else None,
        summary=completion.summary if completion else None,
        sign_off=completion.sign_off.value if completion else None,
        parts=list(parts),
        rating=rating.score if rating else None,
        rating_comment=rating.comment if rating else None,
        complaint=await complaint_view(session, complaint) if complaint else None,
    )


async def confirm(session: AsyncSession, opened: links.OpenLink, *, now: dt.datetime) -> m.Appointment:
    appointment = await _appointment(session, opened.link, opened.job)
    if appointment is None:
        raise Conflict("there is no appointment to confirm")
    if appointment.status is AppointmentStatus.CONFIRMED:
        return appointment
    appointment.status = AppointmentStatus.CONFIRMED
    await session.flush()
    await customer_notices.appointment_confirmed(session, opened.job, appointment, now=now)
    return appointment


async def _completion(session: AsyncSession, job: m.Job) -> m.JobCompletion:
    completion = await session.scalar(current_completion(job.id).with_for_update())
    if completion is None or completion.sign_off is not SignOff.REMOTE_PENDING:
        raise Conflict("this visit is not waiting for your sign-off")
    return completion


async def sign_remotely(
    session: AsyncSession,
    keys: ServerKeys,
    opened: links.OpenLink,
    *,
    signer_name: str,
    image_sha256: str,
    now: dt.datetime,
) -> m.JobSignature:
    """The customer signs off through their single-use link: the signature is sealed like one taken on site."""
    job = opened.job
    completion = await _completion(session, job)
    if not signer_name.strip():
        raise InvalidInput("signer_name", "type your name under your signature")
    if await session.scalar(sa.select(m.JobSignature.id).where(m.JobSignature.job_id == job.id)) is not None:
        raise Conflict("this visit is already signed")
    signature = m.JobSignature(
        job_id=job.id,
        technician_id=None,
        sha256=image_sha256,
        signer_name=signer_name.strip(),
        captured_at=now,
    )
    session.add(signature)
    completion.sign_off = SignOff.REMOTE
    links.use(opened.link, now)
    await seal_job(session, keys, job, SealKind.SIGNATURE, now=now)
    await customer_notices.job_completed(session, job, now=now)
    return signature


async def refuse_sign_off(
    session: AsyncSession, opened: links.OpenLink, *, reason: str, now: dt.datetime
) -> None:
    """The customer says the work is not done: the job is reopened for the office to send someone again."""
    job = opened.job
    completion = await _completion(session, job)
    if not reason.strip():
        raise InvalidInput("reason", "tell us what is not right")
    completion.sign_off = SignOff.REFUSED
    links.use(opened.link, now)
    record_status(
        session, job, JobStatus.REOPENED, None, f"the customer refused to sign off: {reason.strip()}"
    )
    await session.flush()


async def rate(
    session: AsyncSession, opened: links.OpenLink, *, score: int, comment: str | None, now: dt.datetime
) -> m.Rating:
    """One rating per job; rating again through the same link changes it."""
    job = opened.job
    if job.status not in (JobStatus.COMPLETED, JobStatus.CLOSED):
        raise Conflict("the visit can be rated once it is done")
    if not 1 <= score <= 5:
        raise InvalidInput("score", "choose 1 to 5 stars")
    rating = await session.scalar(sa.select(m.Rating).where(m.Rating.job_id == job.id))
    if rating is None:
        rating = m.Rating(
            job_id=job.id, customer_id=job.customer_id, score=score, comment=comment, rated_at=now
        )
        session.add(rating)
    else:
        rating.score, rating.comment, rating.rated_at = score, comment, now
    await session.flush()
    return rating


async def complain(
    session: AsyncSession,
    opened: links.OpenLink,
    *,
    category: ComplaintCategory,
    description: str,
    now: dt.datetime,
) -> tuple[m.Complaint, m.CustomerLink | None]:
    return await complaints.create(
        session,
        customer_id=opened.job.customer_id,
        job=opened.job,
        category=category,
        channel=Channel.WEB,
        description=description,
        now=now,
        actor=None,
    )


async def answer_resolution(
    session: AsyncSession, opened: links.OpenLink, *, satisfied: bool, comment: str | None, now: dt.datetime
) -> m.Complaint:
    if opened.link.complaint_id is None:
        raise Conflict("this link is not about a complaint")
    complaint = await session.scalar(
        sa.select(m.Complaint).where(m.Complaint.id == opened.link.complaint_id).with_for_update()
    )
    if complaint is None:
        raise Conflict("the complaint no longer exists")
    return await complaints.verdict(session, complaint, satisfied=satisfied, comment=comment, now=now)


async def newest_complaint_link(session: AsyncSession, complaint_id: uuid.UUID) -> m.CustomerLink | None:
    return await session.scalar(
        sa.select(m.CustomerLink)
        .where(m.CustomerLink.complaint_id == complaint_id)
        .order_by(m.CustomerLink.created_at.desc())
        .limit(1)
    )


async def has_certificate(session: AsyncSession, job: m.Job) -> bool:
    """Whether the job has a completion seal to show the customer as a certificate."""
    found = await session.scalar(
        sa.select(m.Seal.id).where(m.Seal.job_id == job.id, m.Seal.kind == SealKind.COMPLETION).limit(1)
    )
    return found is not None


async def territory_of(session: AsyncSession, job: m.Job) -> m.Territory:
    return await session.get_one(m.Territory, job.territory_id)


def add_window(job: m.Job, starts_at: dt.datetime, ends_at: dt.datetime) -> None:
    """A time that suits the customer, from the request form."""
    job.time_windows.append(
        m.JobTimeWindow(
            job_id=job.id, starts_at=starts_at.astimezone(dt.UTC), ends_at=ends_at.astimezone(dt.UTC)
        )
    )
