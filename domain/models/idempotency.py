"""Stored answers to online writes sent with an `Idempotency-Key`, so a retried request is answered, not redone."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from domain.models.base import Base


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (sa.UniqueConstraint("user_id", "key", name="uq_idempotency_keys_user_key"),)
    # Bookkeeping of the transport, not a change to the business: kept out of the audit chain.
    __audited__ = False

    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(sa.String(200))
    method: Mapped[str] = mapped_column(sa.String(10))
    path: Mapped[str] = mapped_column(sa.String(500))
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    status_code: Mapped[int] = mapped_column(sa.Integer)
    response_body: Mapped[bytes] = mapped_column(sa.LargeBinary)
    response_headers: Mapped[dict[str, str]] = mapped_column(sa.JSON)
