"""What a technician records on site: notes, checklist answers and findings, parts, time, photos, the signature.

Every row is created by the technician's device with an id the device chose, so a retried sync finds the row it
already made instead of making a second one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy.orm import Mapped, mapped_column

from domain.models.base import Base

SHA256_LENGTH = 64


class JobNote(Base):
    """Append-only: a note is never edited or removed, whatever happened to the job."""

    __tablename__ = "job_notes"

    job_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    technician_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("technicians.id"), index=True)
    body: Mapped[str] = mapped_column(sa.Text)
    # The device's clock when the note was written: shown to people, never used to order anything.
    written_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True))


class JobFieldValue(Base):
    """One answer of a job's checklist or findings (`outcome`, `Water isolated`, ...): the last write wins."""

    __tablename__ = "job_field_values"
    __table_args__ = (sa.UniqueConstraint("job_id", "name", name="uq_job_field_values_job_name"),)

    job_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    value: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    technician_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("technicians.id"))


class JobPartLine(Base):
    """A part used on the job; the device's `line_id` is the row's id."""

    __tablename__ = "job_part_lines"
    __table_args__ = (sa.CheckConstraint("quantity > 0", name="positive_quantity"),)

    job_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    technician_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("technicians.id"))
    part: Mapped[str] = mapped_column(sa.String(200))
    quantity: Mapped[float] = mapped_column(sa.Float)


class TimeEntry(Base):
    """Time a technician spent on a job, as their device measured it; never dropped, flagged when doubtful."""

    __tablename__ = "time_entries"

    job_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    technician_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("technicians.id"), index=True)
    # As the device reported them; `clock_offset_s` (server minus device, measured at the device's last pull)
    # turns them into server time.
    started_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    clock_offset_s: Mapped[float] = mapped_column(sa.Float, default=0.0)
    # Why a person should look at it: `clock_skew`, `overlap`, `ends_before_start`; None when it looks right.
    flag: Mapped[str | None] = mapped_column(sa.String(40))


class JobSignature(Base):
    """The customer's sign-off: the first capture wins and is never replaced."""

    __tablename__ = "job_signatures"

    job_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("jobs.id", ondelete="CASCADE"), unique=True, index=True
    )
    # None when the customer signed remotely, through their sign-off link.
    technician_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("technicians.id"))
    # The signature image, uploaded as an attachment (possibly after this row exists).
    sha256: Mapped[str] = mapped_column(sa.String(SHA256_LENGTH))
    signer_name: Mapped[str] = mapped_column(sa.String(200))
    captured_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    latitude: Mapped[float | None] = mapped_column(sa.Float)
    longitude: Mapped[float | None] = mapped_column(sa.Float)


class JobPhoto(Base):
    """A photo taken on the job; append-only like notes."""

    __tablename__ = "job_photos"

    job_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    technician_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("technicians.id"))
    sha256: Mapped[str] = mapped_column(sa.String(SHA256_LENGTH), index=True)
    caption: Mapped[str | None] = mapped_column(sa.String(500))
    taken_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True))


class Attachment(Base):
    """A content-addressed file (photo or signature image), uploaded in chunks; usable once `complete`."""

    __tablename__ = "attachments"
    __table_args__ = (
        sa.CheckConstraint("size > 0", name="positive_size"),
        sa.CheckConstraint("received >= 0 AND received <= size", name="received_range"),
    )

    sha256: Mapped[str] = mapped_column(sa.String(SHA256_LENGTH), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    received: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    complete: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    technician_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("technicians.id"), index=True)
