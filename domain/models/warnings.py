"""Early warnings: something about to go wrong, raised once, seen by a dispatcher, cleared when it no longer holds."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy.orm import Mapped, mapped_column

from domain.enums import WarningKind
from domain.models.base import Base, enum_column_type


class EarlyWarning(Base):
    """One warning about one subject (a job, a technician's day, a complaint, a sync exception).

    `subject` names what it is about (`late_arrival:<job id>`); while a warning is open no second one is raised
    for the same subject, which the partial unique index enforces even with two evaluators running at once."""

    __tablename__ = "early_warnings"
    # Derived from facts that are audited themselves, and refreshed as often as once a minute: auditing every
    # refresh would flood the chain. Who acknowledged it, and when, is on the row.
    __audited__ = False
    __table_args__ = (
        sa.Index(
            "uq_early_warnings_open_subject",
            "subject",
            unique=True,
            sqlite_where=sa.text("cleared_at IS NULL"),
            postgresql_where=sa.text("cleared_at IS NULL"),
        ),
        sa.Index("ix_early_warnings_territory_cleared", "territory_id", "cleared_at"),
    )

    kind: Mapped[WarningKind] = mapped_column(enum_column_type(WarningKind, "warning_kind"))
    subject: Mapped[str] = mapped_column(sa.String(200))
    territory_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("territories.id"))
    job_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    technician_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("technicians.id"), index=True)
    complaint_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("complaints.id", ondelete="CASCADE"))
    sync_exception_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("sync_exceptions.id", ondelete="CASCADE")
    )
    message: Mapped[str] = mapped_column(sa.Text)
    # The figures behind the message (predicted arrival, the window, minutes late), for the page and the API.
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    # The deadline at risk, when there is one: the list is ordered by it.
    due_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    raised_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    acknowledged_by: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id"))
    cleared_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    # Why it cleared: the condition no longer holds (`resolved`), or its subject is gone or finished.
    cleared_reason: Mapped[str | None] = mapped_column(sa.String(200))
