"""What the office sees of the outbox: what was sent, what is waiting, and the dead letters it can send again."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from sqlalchemy.ext.asyncio import AsyncSession

from domain import audit
from domain import models as m
from domain.enums import MessageChannel, MessageState, Role
from domain.errors import Conflict, NotFound
from domain.paging import page
from domain.principal import Principal
from domain.scoping import visible_technicians


class OutboxRepository(SQLAlchemyAsyncRepository[m.OutboxMessage]):
    model_type = m.OutboxMessage


@dataclass(frozen=True, slots=True)
class OutboxFilter:
    state: MessageState | None = None
    kind: str | None = None
    channel: MessageChannel | None = None
    job_id: uuid.UUID | None = None


def visible_messages(principal: Principal) -> sa.Select[m.OutboxMessage]:
    """An admin sees every message; a dispatcher those of their territories, and those to technicians who work
    in them (a technician's day has no territory of its own); a technician none."""
    stmt = sa.select(m.OutboxMessage)
    if principal.role is Role.ADMIN:
        return stmt
    if principal.role is not Role.DISPATCHER:
        return stmt.where(sa.false())
    technicians = visible_technicians(principal).with_only_columns(m.Technician.id)
    return stmt.where(
        sa.or_(
            m.OutboxMessage.territory_id.in_(principal.territory_ids),
            m.OutboxMessage.technician_id.in_(technicians),
        )
    )


async def list_messages(
    session: AsyncSession, principal: Principal, wanted: OutboxFilter, *, limit: int, offset: int
) -> tuple[list[m.OutboxMessage], int]:
    stmt = visible_messages(principal)
    if wanted.state is not None:
        stmt = stmt.where(m.OutboxMessage.state == wanted.state)
    if wanted.kind is not None:
        stmt = stmt.where(m.OutboxMessage.kind == wanted.kind)
    if wanted.channel is not None:
        stmt = stmt.where(m.OutboxMessage.channel == wanted.channel.value)
    if wanted.job_id is not None:
        stmt = stmt.where(m.OutboxMessage.job_id == wanted.job_id)
    ordered = stmt.order_by(m.OutboxMessage.created_at.desc(), m.OutboxMessage.id)
    return await page(OutboxRepository(session=session), ordered, limit=limit, offset=offset)


async def retry(
    session: AsyncSession, principal: Principal, message_id: uuid.UUID, *, now: dt.datetime
) -> m.OutboxMessage:
    """A dead letter back in the queue, due now, with every attempt of the retry policy before it again."""
    # The audit head before the row, the order the sender's transactions take them in.
    await session.run_sync(audit.lock_head)
    message = await session.scalar(
        visible_messages(principal).where(m.OutboxMessage.id == message_id).with_for_update()
    )
    if message is None:
        raise NotFound("message", message_id)
    if message.state is not MessageState.DEAD:
        raise Conflict(f"only a dead message can be sent again; this one is {message.state.value}")
    message.state = MessageState.PENDING
    message.attempts = 0
    message.next_attempt_at = now
    await session.flush()
    return message
