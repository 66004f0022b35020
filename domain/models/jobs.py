"""What customers ask for and the work orders it becomes."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy.orm import Mapped, mapped_column, relationship

from domain.enums import AppointmentStatus, Channel, JobStatus, Priority
from domain.models.base import Base, enum_column_type


class ServiceRequest(Base):
    __tablename__ = "service_requests"

    channel: Mapped[Channel] = mapped_column(enum_column_type(Channel, "channel"))
    customer_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    site_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    description: Mapped[str] = mapped_column(sa.Text)
    received_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)
    taken_by_user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id"))


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        sa.CheckConstraint("duration_s > 0", name="positive_duration"),
        sa.Index("ix_jobs_territory_status", "territory_id", "status"),
    )

    service_request_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("service_requests.id"), index=True
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    site_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    territory_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("territories.id"))
    # None until triage: the job waits in `new` with suggestions instead.
    service_type_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("service_types.id"), index=True)
    status: Mapped[JobStatus] = mapped_column(
        enum_column_type(JobStatus, "job_status"), default=JobStatus.NEW
    )
    priority: Mapped[Priority] = mapped_column(enum_column_type(Priority, "priority"))
    description: Mapped[str] = mapped_column(sa.Text)
    duration_s: Mapped[int] = mapped_column(sa.Integer)
    respond_by: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    resolve_by: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)
    checklist: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    parts: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    tools: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    suggested_service_type_codes: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    # The job this one continues: a follow-up the technician asked for, or rework after a complaint.
    origin_job_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("jobs.id"), index=True)
    origin_kind: Mapped[str | None] = mapped_column(sa.String(20))
    # What the job is worth to us, in cents, when known: the denominator of the cost ratio.
    value_cents: Mapped[int | None] = mapped_column(sa.Integer)
    version: Mapped[int] = mapped_column(sa.Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    required_skills: Mapped[list[JobRequiredSkill]] = relationship(
        back_populates="job", cascade="all, delete-orphan", lazy="selectin"
    )
    time_windows: Mapped[list[JobTimeWindow]] = relationship(
        back_populates="job",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="JobTimeWindow.starts_at",
    )
    assignment: Mapped[Assignment | None] = relationship(back_populates="job", lazy="selectin", uselist=False)


class JobRequiredSkill(Base):
    __tablename__ = "job_required_skills"
    __table_args__ = (
        sa.UniqueConstraint("job_id", "skill_id", name="uq_job_required_skills_job_skill"),
        sa.CheckConstraint("min_level BETWEEN 1 AND 5", name="level_range"),
    )

    job_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("jobs.id", ondelete="CASCADE"))
    skill_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("skills.id"), index=True)
    min_level: Mapped[int] = mapped_column(sa.Integer)

    job: Mapped[Job] = relationship(back_populates="required_skills")


class JobTimeWindow(Base):
    """A window in which the customer accepts the visit; a job may have several."""

    __tablename__ = "job_time_windows"
    __table_args__ = (sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),)

    job_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)
    ends_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))

    job: Mapped[Job] = relationship(back_populates="time_windows")


class JobStatusEvent(Base):
    """Append-only log of every status change of a job."""

    __tablename__ = "job_status_events"
    # The KPIs look for arrivals (and first responses) by kind and time.
    __table_args__ = (sa.Index("ix_job_status_events_to_status_occurred_at", "to_status", "occurred_at"),)

    job_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[JobStatus | None] = mapped_column(enum_column_type(JobStatus, "from_status"))
    to_status: Mapped[JobStatus] = mapped_column(enum_column_type(JobStatus, "to_status"))
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id"))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    # For a move made on a device: when the device says it happened. It measures the visit (time on site, the KPIs'
    # arrivals) but never orders the log: device clocks drift.
    reported_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True))

    # Lets the unit of work insert the job before its first event.
    job: Mapped[Job] = relationship(lazy="noload")


class Appointment(Base):
    """The window promised to the customer."""

    __tablename__ = "appointments"
    __table_args__ = (sa.CheckConstraint("window_end > window_start", name="ends_after_start"),)

    job_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    window_start: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    window_end: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    status: Mapped[AppointmentStatus] = mapped_column(
        enum_column_type(AppointmentStatus, "appointment_status"), default=AppointmentStatus.OFFERED
    )


class Assignment(Base):
    """A job given to a technician, with its planned start and place in the day's route."""

    __tablename__ = "assignments"

    job_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("jobs.id", ondelete="CASCADE"), unique=True)
    technician_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("technicians.id"), index=True)
    planned_start: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    sequence: Mapped[int] = mapped_column(sa.Integer, default=0)
    # Bumped each time the job changes hands, so a phone can tell a stale assignment from the current one.
    epoch: Mapped[int] = mapped_column(sa.Integer, default=1)

    job: Mapped[Job] = relationship(back_populates="assignment")
