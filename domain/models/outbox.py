"""Messages to people, written in the transaction of the change that causes them and sent afterwards."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy.orm import Mapped, mapped_column

from domain.enums import MessageState
from domain.models.base import Base, enum_column_type


class OutboxMessage(Base):
    """One message to one person on one channel.

    `key` de-duplicates: the same change asked for twice (a repeated publish) queues one message, and the sender
    puts the key in the message id so that a resend after a crash is recognisably the same message."""

    __tablename__ = "outbox"
    __table_args__ = (
        sa.UniqueConstraint("key", name="uq_outbox_key"),
        sa.Index("ix_outbox_state_next_attempt", "state", "next_attempt_at"),
    )

    key: Mapped[str] = mapped_column(sa.String(200))
    # What the message is about (`appointment_offered`, `on_the_way`, ...), for people and filters.
    kind: Mapped[str] = mapped_column(sa.String(40), default="plan_changed")
    channel: Mapped[str] = mapped_column(sa.String(20))
    recipient: Mapped[str] = mapped_column(sa.String(320))
    subject: Mapped[str] = mapped_column(sa.String(300))
    body: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    technician_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("technicians.id"), index=True)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    job_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("jobs.id", ondelete="SET NULL"), index=True
    )
    # Whose dispatchers see it (and its dead letter).
    territory_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("territories.id"))
    # The customer link the message carries; its token is derived again when the message is sent.
    link_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("customer_links.id", ondelete="SET NULL"))
    state: Mapped[MessageState] = mapped_column(
        enum_column_type(MessageState, "message_state"), default=MessageState.PENDING
    )
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), index=True)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
