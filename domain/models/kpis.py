"""How the organisation measures itself: the KPI targets and the rates that price a visit."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from domain.models.base import Base


class KpiSettings(Base):
    """The one row of KPI settings (the migration writes it with the defaults of domain.kpis.definitions).

    Targets are stored only where they differ from the defaults, so a default changed in a later release reaches
    everyone who never chose their own."""

    __tablename__ = "kpi_settings"
    __table_args__ = (
        sa.CheckConstraint("first_fix_window_days BETWEEN 1 AND 365", name="window_range"),
        sa.CheckConstraint("labour_rate_cents_per_hour >= 0", name="labour_rate_not_negative"),
        sa.CheckConstraint("travel_rate_cents_per_km >= 0", name="travel_rate_not_negative"),
    )

    # A job fixed the first time has no follow-up and is not reopened within this many days of its completion.
    first_fix_window_days: Mapped[int] = mapped_column(sa.Integer, default=30)
    labour_rate_cents_per_hour: Mapped[int] = mapped_column(sa.Integer, default=6000)
    travel_rate_cents_per_km: Mapped[int] = mapped_column(sa.Integer, default=50)
    currency: Mapped[str] = mapped_column(sa.String(3), default="EUR")
    targets: Mapped[dict[str, float]] = mapped_column(sa.JSON, default=dict)
