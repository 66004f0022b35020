"""What customers tell us after the visit: ratings and complaints, and how complaints are handled."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy.orm import Mapped, mapped_column

from domain.enums import Channel, ComplaintActionKind, ComplaintCategory, ComplaintStatus
from domain.models.base import Base, enum_column_type


class Rating(Base):
    """The customer's satisfaction with a completed job: one per job, 1 to 5."""

    __tablename__ = "ratings"
    __table_args__ = (sa.CheckConstraint("score BETWEEN 1 AND 5", name="score_range"),)

    job_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("jobs.id", ondelete="CASCADE"), unique=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    score: Mapped[int] = mapped_column(sa.Integer)
    comment: Mapped[str | None] = mapped_column(sa.Text)
    rated_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)


class ComplaintPolicy(Base):
    """How long we may take to respond to and to resolve a complaint of a category."""

    __tablename__ = "complaint_policies"
    __table_args__ = (
        sa.CheckConstraint("respond_within_s > 0", name="positive_respond"),
        sa.CheckConstraint("resolve_within_s >= respond_within_s", name="resolve_after_respond"),
    )

    category: Mapped[ComplaintCategory] = mapped_column(
        enum_column_type(ComplaintCategory, "complaint_category"), unique=True
    )
    respond_within_s: Mapped[int] = mapped_column(sa.Integer)
    resolve_within_s: Mapped[int] = mapped_column(sa.Integer)


class Complaint(Base):
    __tablename__ = "complaints"
    __table_args__ = (sa.Index("ix_complaints_territory_status", "territory_id", "status"),)

    customer_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    job_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("jobs.id"), index=True)
    # The job's territory (or the customer's first site's): whose dispatchers handle it.
    territory_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("territories.id"))
    category: Mapped[ComplaintCategory] = mapped_column(
        enum_column_type(ComplaintCategory, "complaint_category")
    )
    channel: Mapped[Channel] = mapped_column(enum_column_type(Channel, "channel"))
    description: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[ComplaintStatus] = mapped_column(
        enum_column_type(ComplaintStatus, "complaint_status"), default=ComplaintStatus.OPEN
    )
    owner_user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    received_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)
    respond_by: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)
    resolve_by: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)
    responded_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    resolution: Mapped[str | None] = mapped_column(sa.Text)
    # The customer's word on the last resolution: True satisfied, False not (which reopens), None not yet.
    customer_satisfied: Mapped[bool | None] = mapped_column(sa.Boolean)
    reopen_count: Mapped[int] = mapped_column(sa.Integer, default=0)
    rework_job_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("jobs.id"))
    version: Mapped[int] = mapped_column(sa.Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class ComplaintAction(Base):
    """Append-only log of what was done about a complaint, by whom (a user, or the customer through a link)."""

    __tablename__ = "complaint_actions"

    complaint_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("complaints.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[ComplaintActionKind] = mapped_column(enum_column_type(ComplaintActionKind, "action_kind"))
    note: Mapped[str | None] = mapped_column(sa.Text)
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id"))
    by_customer: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
