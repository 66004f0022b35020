"""What kinds of work we do and how fast we promise to do it."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from domain.enums import Priority
from domain.models.base import Base, enum_column_type


class ServiceType(Base):
    __tablename__ = "service_types"
    __table_args__ = (sa.CheckConstraint("default_duration_s > 0", name="positive_duration"),)

    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    default_duration_s: Mapped[int] = mapped_column(sa.Integer)
    default_priority: Mapped[Priority] = mapped_column(enum_column_type(Priority, "priority"))
    checklist: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    parts: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    tools: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    # Words that, found in a request's description, suggest this type during triage.
    keywords: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    requires_signature: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    # What the service is normally charged, in cents; a job copies it as its value (the KPIs' cost ratio).
    price_cents: Mapped[int | None] = mapped_column(sa.Integer)

    skills: Mapped[list[ServiceTypeSkill]] = relationship(
        back_populates="service_type", cascade="all, delete-orphan", lazy="selectin"
    )


class ServiceTypeSkill(Base):
    __tablename__ = "service_type_skills"
    __table_args__ = (
        sa.UniqueConstraint("service_type_id", "skill_id", name="uq_service_type_skills_type_skill"),
        sa.CheckConstraint("min_level BETWEEN 1 AND 5", name="level_range"),
    )

    service_type_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("service_types.id", ondelete="CASCADE"))
    skill_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("skills.id"), index=True)
    min_level: Mapped[int] = mapped_column(sa.Integer)

    service_type: Mapped[ServiceType] = relationship(back_populates="skills")


class SlaPolicy(Base):
    """How long we may take to respond to and to resolve a job of a given priority."""

    __tablename__ = "sla_policies"
    __table_args__ = (
        sa.CheckConstraint("respond_within_s > 0", name="positive_respond"),
        sa.CheckConstraint("resolve_within_s >= respond_within_s", name="resolve_after_respond"),
    )

    priority: Mapped[Priority] = mapped_column(enum_column_type(Priority, "priority"), unique=True)
    respond_within_s: Mapped[int] = mapped_column(sa.Integer)
    resolve_within_s: Mapped[int] = mapped_column(sa.Integer)
