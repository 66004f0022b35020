"""Who does the work and where: territories, skills, technicians, their shifts and the staff accounts."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy.orm import Mapped, mapped_column, relationship

from domain.enums import Role
from domain.models.base import Base, enum_column_type

dispatcher_territories = sa.Table(
    "dispatcher_territories",
    Base.metadata,
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("territory_id", sa.ForeignKey("territories.id", ondelete="CASCADE"), primary_key=True),
)


class Territory(Base):
    __tablename__ = "territories"

    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    # The centre decides which territory a new site falls in (the nearest centre wins).
    center_latitude: Mapped[float] = mapped_column(sa.Float)
    center_longitude: Mapped[float] = mapped_column(sa.Float)


class Skill(Base):
    __tablename__ = "skills"

    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))


class Technician(Base):
    __tablename__ = "technicians"

    name: Mapped[str] = mapped_column(sa.String(200))
    email: Mapped[str | None] = mapped_column(sa.String(320), unique=True)
    phone: Mapped[str | None] = mapped_column(sa.String(32))
    territory_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("territories.id"), index=True)
    home_address: Mapped[str | None] = mapped_column(sa.String(500))
    home_latitude: Mapped[float] = mapped_column(sa.Float)
    home_longitude: Mapped[float] = mapped_column(sa.Float)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)

    skills: Mapped[list[TechnicianSkill]] = relationship(
        back_populates="technician", cascade="all, delete-orphan", lazy="selectin"
    )
    shifts: Mapped[list[Shift]] = relationship(
        back_populates="technician", cascade="all, delete-orphan", lazy="noload", order_by="Shift.starts_at"
    )


class TechnicianSkill(Base):
    __tablename__ = "technician_skills"
    __table_args__ = (
        sa.UniqueConstraint("technician_id", "skill_id", name="uq_technician_skills_technician_skill"),
        sa.CheckConstraint("level BETWEEN 1 AND 5", name="level_range"),
    )

    technician_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("technicians.id", ondelete="CASCADE"))
    skill_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("skills.id"), index=True)
    level: Mapped[int] = mapped_column(sa.Integer)

    technician: Mapped[Technician] = relationship(back_populates="skills")


class Shift(Base):
    __tablename__ = "shifts"
    __table_args__ = (sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),)

    technician_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("technicians.id", ondelete="CASCADE"), index=True
    )
    starts_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    ends_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    # Where the day starts and ends; the technician's home base when not given.
    start_latitude: Mapped[float | None] = mapped_column(sa.Float)
    start_longitude: Mapped[float | None] = mapped_column(sa.Float)
    end_latitude: Mapped[float | None] = mapped_column(sa.Float)
    end_longitude: Mapped[float | None] = mapped_column(sa.Float)

    technician: Mapped[Technician] = relationship(back_populates="shifts")
    breaks: Mapped[list[ShiftBreak]] = relationship(
        back_populates="shift",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="ShiftBreak.earliest_start",
    )


class ShiftBreak(Base):
    """A break of a fixed length taken somewhere between its earliest start and latest end."""

    __tablename__ = "shift_breaks"
    __table_args__ = (
        sa.CheckConstraint("duration_s > 0", name="positive_duration"),
        sa.CheckConstraint("latest_end > earliest_start", name="window_order"),
    )

    shift_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("shifts.id", ondelete="CASCADE"), index=True)
    earliest_start: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    latest_end: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    duration_s: Mapped[int] = mapped_column(sa.Integer)

    shift: Mapped[Shift] = relationship(back_populates="breaks")


class User(Base):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    full_name: Mapped[str] = mapped_column(sa.String(200))
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[Role] = mapped_column(enum_column_type(Role, "role"))
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    technician_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("technicians.id", ondelete="SET NULL"), unique=True
    )

    territories: Mapped[list[Territory]] = relationship(secondary=dispatcher_territories, lazy="selectin")
