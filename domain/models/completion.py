"""How a job ended on site, and the seals that make its evidence checkable."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy.orm import Mapped, mapped_column

from domain.enums import CompletionOutcome, SealKind, SignOff
from domain.models.base import Base, enum_column_type


class JobCompletion(Base):
    """The technician's completion of a job: written once; one current per job (earlier ones superseded).

    Notes, parts, photos and time are rows of their own (domain.models.fieldwork); this row holds what only the
    completion says: the outcome, the summary, where and when, and how long the visit and the travel took."""

    __tablename__ = "job_completions"
    __table_args__ = (
        sa.CheckConstraint("on_site_s IS NULL OR on_site_s >= 0", name="on_site_not_negative"),
        sa.CheckConstraint("travel_s IS NULL OR travel_s >= 0", name="travel_not_negative"),
    )

    job_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    technician_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("technicians.id"), index=True)
    # A job reopened and completed again keeps its earlier completion, superseded, with the seals that name it.
    superseded_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    outcome: Mapped[CompletionOutcome] = mapped_column(enum_column_type(CompletionOutcome, "outcome"))
    follow_up_reason: Mapped[str | None] = mapped_column(sa.Text)
    summary: Mapped[str | None] = mapped_column(sa.Text)
    # The server's clock; `reported_at` is the device's, shown and never used to order anything.
    completed_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)
    reported_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    latitude: Mapped[float | None] = mapped_column(sa.Float)
    longitude: Mapped[float | None] = mapped_column(sa.Float)
    # When the visit began (arrival on site), on the device's clock when it came from one: the KPIs count the
    # visit on that local day, so a visit running past midnight stays with the shift it belongs to.
    arrived_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    on_site_s: Mapped[int | None] = mapped_column(sa.Integer)
    travel_s: Mapped[int | None] = mapped_column(sa.Integer)
    # Road distance estimated from where the technician set out (the last site, or home): the travel cost.
    travel_m: Mapped[int | None] = mapped_column(sa.Integer)
    sign_off: Mapped[SignOff] = mapped_column(enum_column_type(SignOff, "sign_off"))
    follow_up_job_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("jobs.id"))


class Seal(Base):
    """A snapshot of a job's evidence, signed with the server's key at the moment it was sealed.

    `payload` is the canonical snapshot (domain.sealing); `digest` its SHA-256; `signature` the Ed25519
    signature of the digest's canonical bytes by the key named `key_id`. The row's insert is in the audit chain."""

    __tablename__ = "seals"

    job_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[SealKind] = mapped_column(enum_column_type(SealKind, "seal_kind"))
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    digest: Mapped[str] = mapped_column(sa.String(64))
    signature: Mapped[str] = mapped_column(sa.String(200))
    key_id: Mapped[str] = mapped_column(sa.String(64))
    sealed_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
