"""The outbox for the office: what was sent to whom, what is waiting, and the dead letters to send again."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from litestar import Controller, get, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import OFFICE
from api.deps import Limit, Offset
from api.schemas.base import Page
from api.schemas.outbox import OutboxMessageOut
from domain import models as m
from domain.delivery import message_id_for
from domain.delivery import office as outbox
from domain.enums import MessageChannel, MessageState
from domain.principal import Principal

Kind = Annotated[
    str | None,
    Parameter(
        description="What the message is about, e.g. `appointment_confirmed`",
        max_length=40,
        pattern=r"^[a-z0-9_.-]+$",
    ),
]


def message_out(message: m.OutboxMessage) -> OutboxMessageOut:
    return OutboxMessageOut(
        id=message.id,
        key=message.key,
        message_id=message_id_for(message.key),
        kind=message.kind,
        channel=message.channel,
        recipient=message.recipient,
        subject=message.subject,
        body=message.body if isinstance(message.body, dict) else {},
        state=message.state,
        attempts=message.attempts,
        next_attempt_at=message.next_attempt_at,
        last_error=message.last_error,
        sent_at=message.sent_at,
        job_id=message.job_id,
        customer_id=message.customer_id,
        technician_id=message.technician_id,
        territory_id=message.territory_id,
        created_at=message.created_at,
        updated_at=message.updated_at,
    )


class OutboxController(Controller):
    path = "/api/outbox"
    tags = ["notifications"]
    guards = [OFFICE]

    @get(
        operation_id="ListOutboxMessages",
        summary="Messages to customers and technicians, newest first",
        description=(
            "What was sent, what waits for its next attempt and what was given up on: `state=dead` is the "
            "dead-letter list. A dispatcher sees the messages of their territories and those to their technicians."
        ),
    )
    async def list_messages(
        self,
        principal: Principal,
        db_session: AsyncSession,
        limit: Limit = 50,
        offset: Offset = 0,
        message_state: Annotated[
            MessageState | None, Parameter(query="state", description="`dead` lists the dead letters")
        ] = None,
        kind: Kind = None,
        channel: MessageChannel | None = None,
        job_id: uuid.UUID | None = None,
    ) -> Page[OutboxMessageOut]:
        found, total = await outbox.list_messages(
            db_session,
            principal,
            outbox.OutboxFilter(state=message_state, kind=kind, channel=channel, job_id=job_id),
            limit=limit,
            offset=offset,
        )
        return Page(items=[message_out(x) for x in found], total=total, limit=limit, offset=offset)

    @post(
        "/{message_id:uuid}/retry",
        operation_id="RetryOutboxMessage",
        summary="Send a dead message again",
        description="The message goes back to the queue, due now, with every attempt of the retry policy; 409 "
        "unless it is dead.",
        status_code=200,
    )
    async def retry(
        self, message_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> OutboxMessageOut:
        message = await outbox.retry(db_session, principal, message_id, now=dt.datetime.now(dt.UTC))
        return message_out(message)
