"""Queueing messages to customers in the transaction of the change that causes them.

Each message goes on every channel the customer can be reached on (e-mail, SMS) and has not opted out of. A
channel the customer opted out of still gets a row, `suppressed`, so that anyone asking "did we tell them?" finds
the answer. The same `key` never queues twice: asking again for a message already queued is a no-op. The sender
(domain.delivery) derives the link's token and puts it in place of `{link}` when it sends.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain import models as m
from domain.enums import MessageChannel, MessageState

LINK_PLACEHOLDER = "{link}"


def _address(customer: m.Customer, channel: MessageChannel) -> tuple[str | None, bool]:
    if channel is MessageChannel.EMAIL:
        return customer.email, customer.email_opt_out
    return customer.phone, customer.sms_opt_out


async def notify_customer(
    session: AsyncSession,
    *,
    kind: str,
    key: str,
    job: m.Job,
    subject: str,
    text: str,
    now: dt.datetime,
    link: m.CustomerLink | None = None,
) -> list[m.OutboxMessage]:
    """Queue one message per reachable channel; returns the rows queued now (none when `key` was seen before)."""
    customer = await session.get_one(m.Customer, job.customer_id)
    keys = {channel: f"{key}:{channel.value}" for channel in (MessageChannel.EMAIL, MessageChannel.SMS)}
    seen = set(
        await session.scalars(sa.select(m.OutboxMessage.key).where(m.OutboxMessage.key.in_(keys.values())))
    )
    queued = []
    for channel, channel_key in keys.items():
        address, opted_out = _address(customer, channel)
        if address is None or channel_key in seen:
            continue
        message = m.OutboxMessage(
            key=channel_key,
            kind=kind,
            channel=channel.value,
            recipient=address,
            subject=subject,
            body={"text": text},
            customer_id=customer.id,
            job_id=job.id,
            territory_id=job.territory_id,
            link_id=link.id if link is not None else None,
            state=MessageState.SUPPRESSED if opted_out else MessageState.PENDING,
            next_attempt_at=None if opted_out else now,
            last_error=f"the customer opted out of {channel.value}" if opted_out else None,
            attempts=0,
        )
        session.add(message)
        queued.append(message)
    return queued


async def queued(session: AsyncSession, key: str) -> bool:
    """Whether a message of this key went on any channel already."""
    keys = [f"{key}:{channel.value}" for channel in (MessageChannel.EMAIL, MessageChannel.SMS)]
    found = await session.scalar(sa.select(m.OutboxMessage.id).where(m.OutboxMessage.key.in_(keys)).limit(1))
    return found is not None
