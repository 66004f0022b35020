"""SendCustomerLink: the office sends (again) a link for one of its jobs, for one purpose.

Each send makes a new link and a new message, so a customer who lost the first can be given another; the links
already sent keep working until they expire.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain import models as m
from domain.enums import JobStatus, LinkPurpose, SignOff
from domain.errors import Conflict, InvalidInput, NotFound
from domain.outbox import LINK_PLACEHOLDER
from domain.principal import Principal
from domain.scoping import visible_jobs
from domain.services import customer_notices
from domain.services.completion import current_completion
from domain.services.customer_portal import standing_appointment

_TEXT = {
    LinkPurpose.TRACK: ("Follow your visit", "Follow your visit here: {link}"),
    LinkPurpose.SURVEY: ("How did we do?", "How was your visit? Rate it in one tap: {link}"),
    LinkPurpose.REQUEST: ("Your request", "Follow your request here: {link}"),
}


async def send_link(
    session: AsyncSession,
    principal: Principal,
    job_id: uuid.UUID,
    purpose: LinkPurpose,
    *,
    complaint_id: uuid.UUID | None,
    now: dt.datetime,
) -> tuple[m.CustomerLink, list[m.OutboxMessage]]:
    job = await session.scalar(visible_jobs(principal).where(m.Job.id == job_id))
    if job is None:
        raise NotFound("job", job_id)
    if complaint_id is not None and purpose is not LinkPurpose.COMPLAINT:
        raise InvalidInput("complaint_id", "only a complaint link names a complaint")
    match purpose:
        case LinkPurpose.CONFIRM:
            appointment = await session.scalar(standing_appointment(job.id))
            if appointment is None:
                raise Conflict("the job has no appointment to confirm; offer a slot first")
            link = await customer_notices.appointment_offered(
                session, job, appointment, now=now, by=principal.user_id
            )
        case LinkPurpose.SIGN_OFF:
            completion = await session.scalar(current_completion(job.id))
            if completion is None or completion.sign_off is not SignOff.REMOTE_PENDING:
                raise Conflict("the job is not waiting for a remote sign-off")
            link = await customer_notices.sign_off_requested(session, job, now=now)
        case LinkPurpose.COMPLAINT:
            complaint = await session.get(m.Complaint, complaint_id) if complaint_id else None
            if complaint is None or complaint.job_id != job.id:
                raise InvalidInput("complaint_id", "name one of this job's complaints")
            link = await customer_notices.complaint_update(
                session, complaint, job, event="link", text="Here is the link to your complaint.", now=now
            )
        case _:
            if purpose is LinkPurpose.SURVEY and job.status not in (JobStatus.COMPLETED, JobStatus.CLOSED):
                raise Conflict("a survey is sent once the job is completed")
            subject, text = _TEXT[purpose]
            link = await customer_notices.send_with_link(
                session,
                job,
                purpose,
                kind=f"link_{purpose.value}",
                subject=subject,
                text=text.replace("{link}", LINK_PLACEHOLDER),
                now=now,
                created_by=principal.user_id,
            )
    await session.flush()
    messages = list(
        await session.scalars(sa.select(m.OutboxMessage).where(m.OutboxMessage.link_id == link.id))
    )
    return link, messages
