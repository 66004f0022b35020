"""What we tell the customer, and when: each notice makes the link it carries and queues it on the outbox.

Every notice has a key of its own, so a change applied twice (a retried push, a repeated click) tells the
customer once.
"""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain import links, travel
from domain import models as m
from domain.enums import JobStatus, LinkPurpose
from domain.outbox import LINK_PLACEHOLDER, notify_customer, queued


async def _service_name(session: AsyncSession, job: m.Job) -> str:
    if job.service_type_id is None:
        return "service"
    kind = await session.get(m.ServiceType, job.service_type_id)
    return kind.name if kind else "service"


def _when(start: dt.datetime, end: dt.datetime, tz: str) -> str:
    zone = ZoneInfo(tz)
    a, b = start.astimezone(zone), end.astimezone(zone)
    return f"{a:%a %d %b} between {a:%H:%M} and {b:%H:%M}"


async def _zone(session: AsyncSession, job: m.Job) -> str:
    territory = await session.get_one(m.Territory, job.territory_id)
    return territory.timezone


async def send_with_link(
    session: AsyncSession,
    job: m.Job,
    purpose: LinkPurpose,
    *,
    kind: str,
    subject: str,
    text: str,
    now: dt.datetime,
    key: str | None = None,
    appointment_id: uuid.UUID | None = None,
    complaint_id: uuid.UUID | None = None,
    created_by: uuid.UUID | None = None,
) -> m.CustomerLink:
    """A new link and the message carrying it (`text` holds the link's place), keyed by `key` or by the link."""
    link = links.new_link(
        session,
        purpose,
        job,
        now=now,
        appointment_id=appointment_id,
        complaint_id=complaint_id,
        created_by=created_by,
    )
    await notify_customer(
        session,
        kind=kind,
        key=key or f"{kind}:{link.id}",
        job=job,
        subject=subject,
        text=text,
        now=now,
        link=link,
    )
    return link


async def send_once_with_link(
    session: AsyncSession,
    job: m.Job,
    purpose: LinkPurpose,
    *,
    key: str,
    kind: str,
    subject: str,
    text: str,
    now: dt.datetime,
    appointment_id: uuid.UUID | None = None,
) -> None:
    """`send_with_link` for a message that goes once: a repeat makes neither a message nor a link."""
    if not await queued(session, key):
        await send_with_link(
            session,
            job,
            purpose,
            key=key,
            kind=kind,
            subject=subject,
            text=text,
            now=now,
            appointment_id=appointment_id,
        )


async def appointment_offered(
    session: AsyncSession, job: m.Job, appointment: m.Appointment, *, now: dt.datetime, by: uuid.UUID | None
) -> m.CustomerLink:
    when = _when(appointment.window_start, appointment.window_end, await _zone(session, job))
    return await send_with_link(
        session,
        job,
        LinkPurpose.CONFIRM,
        kind="appointment_offered",
        subject=f"Your {await _service_name(session, job)} visit: please confirm",
        text=f"We can come {when}. Confirm it, or choose another time: {LINK_PLACEHOLDER}",
        now=now,
        appointment_id=appointment.id,
        created_by=by,
    )


async def appointment_confirmed(
    session: AsyncSession, job: m.Job, appointment: m.Appointment, *, now: dt.datetime
) -> None:
    when = _when(appointment.window_start, appointment.window_end, await _zone(session, job))
    await send_once_with_link(
        session,
        job,
        LinkPurpose.TRACK,
        kind="appointment_confirmed",
        key=f"appointment:{appointment.id}:confirmed",
        subject=f"Your {await _service_name(session, job)} visit is confirmed",
        text=f"Your visit is confirmed for {when}. Follow it here: {LINK_PLACEHOLDER}",
        now=now,
        appointment_id=appointment.id,
    )


async def estimated_arrival(
    session: AsyncSession, job: m.Job, departed_at: dt.datetime
) -> dt.datetime | None:
    if job.assignment is None:
        return None
    technician = await session.get_one(m.Technician, job.assignment.technician_id)
    site = await session.get_one(m.Site, job.site_id)
    start = await travel.last_position(session, technician, job.id, departed_at)
    return departed_at + travel.drive_time(start, (site.latitude, site.longitude))


async def on_the_way(session: AsyncSession, job: m.Job, *, now: dt.datetime) -> dt.datetime | None:
    """The technician set out: tell the customer with the estimated arrival. Returns the estimate."""
    eta = await estimated_arrival(session, job, now)
    arrival = (
        f" and should arrive around {eta.astimezone(ZoneInfo(await _zone(session, job))):%H:%M}"
        if eta
        else ""
    )
    trip = await session.scalar(
        sa.select(sa.func.count())
        .select_from(m.JobStatusEvent)
        .where(m.JobStatusEvent.job_id == job.id, m.JobStatusEvent.to_status == JobStatus.EN_ROUTE)
    )
    await send_once_with_link(
        session,
        job,
        LinkPurpose.TRACK,
        kind="on_the_way",
        key=f"job:{job.id}:on_the_way:{trip}",
        subject="Your technician is on the way",
        text=f"Your technician is on the way{arrival}. Follow the visit: {LINK_PLACEHOLDER}",
        now=now,
    )
    return eta


async def sign_off_requested(session: AsyncSession, job: m.Job, *, now: dt.datetime) -> m.CustomerLink:
    return await send_with_link(
        session,
        job,
        LinkPurpose.SIGN_OFF,
        kind="sign_off_requested",
        subject="Please sign off your visit",
        text=(
            "Our technician finished the work but could not get your signature on site. "
            f"Please check the work and sign off: {LINK_PLACEHOLDER}"
        ),
        now=now,
    )


async def job_completed(session: AsyncSession, job: m.Job, *, now: dt.datetime) -> None:
    """The certificate (through the visit's page) and, separately, the survey."""
    service = await _service_name(session, job)
    await send_once_with_link(
        session,
        job,
        LinkPurpose.TRACK,
        kind="job_completed",
        key=f"job:{job.id}:completed",
        subject=f"Your {service} visit is complete",
        text=f"The work is done. Your completion certificate: {LINK_PLACEHOLDER}",
        now=now,
    )
    await send_once_with_link(
        session,
        job,
        LinkPurpose.SURVEY,
        kind="survey",
        key=f"job:{job.id}:survey",
        subject="How did we do?",
        text=f"How was your {service} visit? Rate it in one tap: {LINK_PLACEHOLDER}",
        now=now,
    )


async def complaint_update(
    session: AsyncSession, complaint: m.Complaint, job: m.Job, *, event: str, text: str, now: dt.datetime
) -> m.CustomerLink:
    """Tell the customer what happened to their complaint, with the link to follow it and answer."""
    return await send_with_link(
        session,
        job,
        LinkPurpose.COMPLAINT,
        kind=f"complaint_{event}",
        subject=f"Your complaint: {event.replace('_', ' ')}",
        text=f"{text} Follow your complaint: {LINK_PLACEHOLDER}",
        now=now,
        complaint_id=complaint.id,
    )


async def status_changed(session: AsyncSession, job: m.Job, to: JobStatus, *, now: dt.datetime) -> None:
    """The moves the customer hears about as they happen (the visit's page shows every other)."""
    if to is JobStatus.EN_ROUTE:
        await on_the_way(session, job, now=now)


async def request_received(session: AsyncSession, job: m.Job, *, now: dt.datetime) -> m.CustomerLink:
    """A request from the public form: its link lets the customer follow it from intake to the visit."""
    return await send_with_link(
        session,
        job,
        LinkPurpose.REQUEST,
        kind="request_received",
        subject="We received your request",
        text=f"Thank you: we received your request and will offer you a visit soon. Follow it: {LINK_PLACEHOLDER}",
        now=now,
    )
