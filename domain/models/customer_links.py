"""Links sent to customers: one appointment (or request, or complaint), one purpose, an expiry."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy.orm import Mapped, mapped_column

from domain.enums import LinkPurpose
from domain.models.base import Base, enum_column_type


class CustomerLink(Base):
    """The token is never stored: it is the row's id and a MAC of it under a secret kept outside the database
    (domain.links), derived again when the message carrying it is sent and checked when it comes back."""

    __tablename__ = "customer_links"

    purpose: Mapped[LinkPurpose] = mapped_column(enum_column_type(LinkPurpose, "link_purpose"))
    job_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("appointments.id", ondelete="CASCADE"), index=True
    )
    complaint_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("complaints.id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    single_use: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id"))
