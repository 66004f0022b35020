"""Sending what the outbox holds: at least once, never marked sent before it was sent.

One message at a time:

1. **Claim** (one short transaction): the message, still pending and due, is leased: `next_attempt_at` moves a
   lease ahead and `attempts` counts the attempt, then the transaction commits. A sender that dies from here on
   leaves the message to come back when the lease runs out; counting the attempt now means a message that kills
   its sender every time still ends `dead` instead of looping forever. In the same transaction the customer's
   opt-out is read again (opted out since it was queued: `suppressed`, nothing is sent) and the link's token is
   derived into the text.
2. **Send**, outside any transaction, so a slow mail server holds no lock.
3. **Mark** (a second transaction): `sent`, or a later try with exponential backoff, or `dead` after the last
   attempt or at once on a permanent failure.

On PostgreSQL the claim locks the row with `FOR UPDATE SKIP LOCKED`, so two workers never take the same message;
SQLite has one writer at a time. A resend after a crash carries the same message id (see `message_id_for`), for
receivers that de-duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain import audit, links
from domain import models as m
from domain.db import write_intent
from domain.delivery.messages import (
    DeliveryFailure,
    PermanentFailure,
    RenderedMessage,
    Sender,
    TemporaryFailure,
    message_id_for,
)
from domain.enums import MessageChannel, MessageState
from domain.outbox import LINK_PLACEHOLDER

log = logging.getLogger("fieldwork.outbox")

ACTOR = "system:outbox"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    first_delay_s: float = 30.0
    max_delay_s: float = 3600.0
    max_attempts: int = 8
    # Longer than any one send may take (the senders' own timeouts are 10 to 30 s), so a live sender never sees
    # its message taken from it.
    lease_s: float = 300.0

    def delay_after(self, attempt: int) -> dt.timedelta:
        """How long to wait after the `attempt`-th attempt (1-based) failed for now: 30 s doubling, capped."""
        return dt.timedelta(seconds=min(self.first_delay_s * 2 ** max(attempt - 1, 0), self.max_delay_s))


DEFAULT_POLICY = RetryPolicy()


@dataclass
class DeliveryReport:
    # Messages found due when the round began; a round that found `limit` of them leaves more behind.
    due: int = 0
    sent: int = 0
    retrying: int = 0
    dead: int = 0
    suppressed: int = 0


@dataclass(frozen=True, slots=True)
class _Claim:
    message: RenderedMessage
    attempt: int


def _now(now: dt.datetime | None) -> dt.datetime:
    return now if now is not None else dt.datetime.now(dt.UTC)


def _due(now: dt.datetime) -> sa.ColumnElement[bool]:
    # Rows queued before the sender existed (plan messages of revision 0004) have no next_attempt_at: due now.
    return sa.and_(
        m.OutboxMessage.state == MessageState.PENDING,
        sa.or_(m.OutboxMessage.next_attempt_at.is_(None), m.OutboxMessage.next_attempt_at <= now),
    )


@contextlib.asynccontextmanager
async def _writing(
    sessionmaker: async_sessionmaker[AsyncSession], write_lock: asyncio.Lock | None
) -> AsyncIterator[AsyncSession]:
    async with write_lock or contextlib.nullcontext(), sessionmaker() as session:
        session.info["actor"] = ACTOR
        # The audit head first, as every writer here does, so that no two writers wait on each other in a circle.
        await session.run_sync(audit.lock_head)
        yield session


async def _candidates(
    sessionmaker: async_sessionmaker[AsyncSession], now: dt.datetime, limit: int
) -> list[uuid.UUID]:
    """The ids of messages due now, read without taking any lock: an idle poll costs one small query."""
    token = write_intent.set(False)
    try:
        async with sessionmaker() as session:
            found = await session.scalars(
                sa.select(m.OutboxMessage.id)
                .where(_due(now))
                .order_by(m.OutboxMessage.next_attempt_at.nulls_first(), m.OutboxMessage.created_at)
                .limit(limit)
            )
            return list(found)
    finally:
        write_intent.reset(token)


def _opted_out(message: m.OutboxMessage, customer: m.Customer | None) -> bool:
    if customer is None:
        return False
    if message.channel == MessageChannel.EMAIL.value:
        return customer.email_opt_out
    if message.channel == MessageChannel.SMS.value:
        return customer.sms_opt_out
    return False


async def _render(
    session: AsyncSession,
    message: m.OutboxMessage,
    *,
    link_secret: bytes,
    public_base_url: str,
    now: dt.datetime,
) -> RenderedMessage:
    body = message.body if isinstance(message.body, dict) else {}
    raw = body.get("text")
    text = raw if isinstance(raw, str) else message.subject
    if LINK_PLACEHOLDER in text:
        link = await session.get(m.CustomerLink, message.link_id) if message.link_id else None
        if link is None:
            raise PermanentFailure("no link", "the message refers to a customer link that no longer exists")
        if link.expires_at <= now:
            raise PermanentFailure("link expired", "the customer link expired before the message was sent")
        url = f"{public_base_url.rstrip('/')}/c/{links.token_for(link_secret, link)}"
        text = text.replace(LINK_PLACEHOLDER, url)
    return RenderedMessage(
        outbox_id=message.id,
        key=message.key,
        message_id=message_id_for(message.key),
        kind=message.kind,
        channel=message.channel,
        recipient=message.recipient,
        subject=message.subject,
        text=text,
        data=body,
    )


async def _claim(
    sessionmaker: async_sessionmaker[AsyncSession],
    outbox_id: uuid.UUID,
    *,
    link_secret: bytes,
    public_base_url: str,
    now: dt.datetime,
    policy: RetryPolicy,
    report: DeliveryReport,
    write_lock: asyncio.Lock | None,
) -> _Claim | None:
    async with _writing(sessionmaker, write_lock) as session:
        message = await session.scalar(
            sa.select(m.OutboxMessage)
            .where(m.OutboxMessage.id == outbox_id, _due(now))
            .with_for_update(skip_locked=True)
        )
        if message is None:
            return None  # another worker has it, or had it and is done
        customer = await session.get(m.Customer, message.customer_id) if message.customer_id else None
        if _opted_out(message, customer):
            message.state = MessageState.SUPPRESSED
            message.next_attempt_at = None
            message.last_error = f"the customer opted out of {message.channel} before it was sent"
            await session.commit()
            report.suppressed += 1
            log.info("outbox %s: suppressed, the customer opted out of %s", message.id, message.channel)
            return None
        message.attempts += 1
        try:
            rendered = await _render(
                session, message, link_secret=link_secret, public_base_url=public_base_url, now=now
            )
        except PermanentFailure as failure:
            _give_up(message, failure)
            await session.commit()
            report.dead += 1
            log.warning("outbox %s: dead before sending (%s)", message.id, failure.summary)
            return None
        message.next_attempt_at = now + dt.timedelta(seconds=policy.lease_s)
        await session.commit()
        return _Claim(rendered, message.attempts)


def _give_up(message: m.OutboxMessage, failure: DeliveryFailure) -> None:
    message.state = MessageState.DEAD
    message.next_attempt_at = None
    message.last_error = failure.detail


async def _mark(
    sessionmaker: async_sessionmaker[AsyncSession],
    claim: _Claim,
    failure: DeliveryFailure | None,
    *,
    now: dt.datetime,
    policy: RetryPolicy,
    report: DeliveryReport,
    write_lock: asyncio.Lock | None,
) -> None:
    async with _writing(sessionmaker, write_lock) as session:
        message = await session.get(m.OutboxMessage, claim.message.outbox_id, with_for_update=True)
        if message is None:
            return
        if failure is None:
            # It went out, whatever happened to the row meanwhile (a lease that ran out, a second worker that gave
            # up on it): the row says what the recipient got. A first `sent_at` stays.
            if message.state is not MessageState.SENT:
                message.state = MessageState.SENT
                message.sent_at = now
                message.next_attempt_at = None
                message.last_error = None
                await session.commit()
            report.sent += 1
            return
        if message.state is not MessageState.PENDING or message.attempts != claim.attempt:
            return  # our lease ran out and another attempt owns the message now; it decides
        if isinstance(failure, PermanentFailure) or message.attempts >= policy.max_attempts:
            _give_up(message, failure)
            report.dead += 1
            log.warning(
                "outbox %s: dead after %d attempt(s) on %s (%s)",
                message.id,
                message.attempts,
                message.channel,
                failure.summary,
            )
        else:
            message.next_attempt_at = now + policy.delay_after(message.attempts)
            message.last_error = failure.detail
            report.retrying += 1
            log.info(
                "outbox %s: attempt %d on %s failed (%s), next at %s",
                message.id,
                message.attempts,
                message.channel,
                failure.summary,
                message.next_attempt_at.isoformat(),
            )
        await session.commit()


async def _send(sender: Sender | None, message: RenderedMessage) -> DeliveryFailure | None:
    if sender is None:
        return PermanentFailure("no sender", f"no sender is configured for channel {message.channel!r}")
    try:
        await sender.send(message)
    except DeliveryFailure as failure:
        return failure
    except Exception as exc:
        # A sender's own bug must not lose the message: it is tried again like any temporary failure.
        log.exception("outbox %s: the %s sender failed unexpectedly", message.outbox_id, message.channel)
        return TemporaryFailure(type(exc).__name__, f"unexpected {type(exc).__name__}: {exc}")
    return None


async def deliver_due(
    sessionmaker: async_sessionmaker[AsyncSession],
    senders: Mapping[str, Sender],
    *,
    link_secret: bytes,
    public_base_url: str,
    now: dt.datetime | None = None,
    limit: int = 50,
    policy: RetryPolicy = DEFAULT_POLICY,
    write_lock: asyncio.Lock | None = None,
    stopping: asyncio.Event | None = None,
) -> DeliveryReport:
    """Send up to `limit` messages that are due, by channel through `senders`; returns what became of them.

    `now` fixes the clock for the whole round (tests drive time with it); without it each step reads the clock.
    `write_lock` is the process's SQLite writer queue, so the worker waits its turn like a request does.
    `stopping` ends the round between two messages."""
    candidates = await _candidates(sessionmaker, _now(now), limit)
    report = DeliveryReport(due=len(candidates))
    for outbox_id in candidates:
        if stopping is not None and stopping.is_set():
            break
        claim = await _claim(
            sessionmaker,
            outbox_id,
            link_secret=link_secret,
            public_base_url=public_base_url,
            now=_now(now),
            policy=policy,
            report=report,
            write_lock=write_lock,
        )
        if claim is None:
            continue
        failure = await _send(senders.get(claim.message.channel), claim.message)
        await _mark(
            sessionmaker,
            claim,
            failure,
            now=_now(now),
            policy=policy,
            report=report,
            write_lock=write_lock,
        )
    return report
