"""The people we serve and the places we go."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from domain.models.base import Base


class Customer(Base):
    __tablename__ = "customers"

    name: Mapped[str] = mapped_column(sa.String(200))
    # Stored normalized (see domain.contacts) so that matching never creates a duplicate.
    email: Mapped[str | None] = mapped_column(sa.String(320), unique=True)
    phone: Mapped[str | None] = mapped_column(sa.String(32), unique=True)
    # Consent to marketing; fieldwork sends none. Service messages follow the opt-outs below.
    consent_to_messages: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    email_opt_out: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    sms_opt_out: Mapped[bool] = mapped_column(sa.Boolean, default=False)

    sites: Mapped[list[Site]] = relationship(back_populates="customer", lazy="noload")


class Site(Base):
    __tablename__ = "sites"
    __table_args__ = (
        sa.CheckConstraint("latitude BETWEEN -90 AND 90", name="latitude_range"),
        sa.CheckConstraint("longitude BETWEEN -180 AND 180", name="longitude_range"),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    territory_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("territories.id"), index=True)
    address: Mapped[str] = mapped_column(sa.String(500))
    latitude: Mapped[float] = mapped_column(sa.Float)
    longitude: Mapped[float] = mapped_column(sa.Float)
    access_notes: Mapped[str | None] = mapped_column(sa.Text)

    customer: Mapped[Customer] = relationship(back_populates="sites")
