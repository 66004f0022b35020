"""What the office reads of the outbox."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from api.schemas.base import Read
from domain.enums import MessageState


class OutboxMessageOut(Read, frozen=True):
    id: uuid.UUID
    key: str
    # The id the message carries on the wire (the e-mail's Message-ID, the SMS provider's id): find it in their logs.
    message_id: str
    kind: str
    channel: str
    recipient: str
    subject: str
    # As queued: a customer link appears as the `{link}` placeholder, its token is only derived when sending.
    body: dict[str, Any]
    state: MessageState
    attempts: int
    next_attempt_at: dt.datetime | None
    last_error: str | None
    sent_at: dt.datetime | None
    job_id: uuid.UUID | None
    customer_id: uuid.UUID | None
    technician_id: uuid.UUID | None
    territory_id: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime
