"""How the organisation measures itself: the KPI targets and the rates that price a visit, and the daily tallies
that keep a year's report fast."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from advanced_alchemy.types import GUID
from sqlalchemy.orm import Mapped, mapped_column

from domain.models.audit import AuditBase
from domain.models.base import Base

BigInt = sa.BigInteger().with_variant(sa.Integer, "sqlite")


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


class _Tallies:
    """The additive measures of domain.kpis.tally.Tally, one column each."""

    ratings: Mapped[int] = mapped_column(sa.Integer, default=0)
    good_ratings: Mapped[int] = mapped_column(sa.Integer, default=0)
    score_sum: Mapped[int] = mapped_column(sa.Integer, default=0)
    fast_responses: Mapped[int] = mapped_column(sa.Integer, default=0)
    fast_response_s: Mapped[float] = mapped_column(sa.Float, default=0.0)
    other_responses: Mapped[int] = mapped_column(sa.Integer, default=0)
    other_response_s: Mapped[float] = mapped_column(sa.Float, default=0.0)
    deadlines: Mapped[int] = mapped_column(sa.Integer, default=0)
    deadlines_met: Mapped[int] = mapped_column(sa.Integer, default=0)
    jobs_completed: Mapped[int] = mapped_column(sa.Integer, default=0)
    reopened: Mapped[int] = mapped_column(sa.Integer, default=0)
    first_visits: Mapped[int] = mapped_column(sa.Integer, default=0)
    first_visits_fixed: Mapped[int] = mapped_column(sa.Integer, default=0)
    value_cents: Mapped[int] = mapped_column(BigInt, default=0)
    visits: Mapped[int] = mapped_column(sa.Integer, default=0)
    on_site_s: Mapped[int] = mapped_column(BigInt, default=0)
    travel_s: Mapped[int] = mapped_column(BigInt, default=0)
    travelled: Mapped[int] = mapped_column(sa.Integer, default=0)
    travel_m: Mapped[int] = mapped_column(BigInt, default=0)
    distanced: Mapped[int] = mapped_column(sa.Integer, default=0)
    valued_on_site_s: Mapped[int] = mapped_column(BigInt, default=0)
    valued_travel_m: Mapped[int] = mapped_column(BigInt, default=0)
    arrivals: Mapped[int] = mapped_column(sa.Integer, default=0)
    on_time: Mapped[int] = mapped_column(sa.Integer, default=0)
    complaints: Mapped[int] = mapped_column(sa.Integer, default=0)
    complaints_resolved: Mapped[int] = mapped_column(sa.Integer, default=0)
    resolution_s: Mapped[float] = mapped_column(sa.Float, default=0.0)
    shift_s: Mapped[int] = mapped_column(BigInt, default=0)


class KpiDay(_Tallies, AuditBase):
    """The KPI tallies of one closed local day (docs/kpis.md, "Daily tallies"): the additive measures of every
    event counted that day, by territory and service type. Derived data, counted again from the events whenever
    they change; a report reads these rows for the days they cover and counts only the last few from the events."""

    __audited__ = False
    __tablename__ = "kpi_days"
    __table_args__ = (sa.Index("ix_kpi_days_territory_day", "territory_id", "day"),)

    row: Mapped[int] = mapped_column(BigInt, sa.Identity(), primary_key=True)
    territory_id: Mapped[uuid.UUID] = mapped_column(GUID)
    service_type_id: Mapped[uuid.UUID | None] = mapped_column(GUID)
    day: Mapped[dt.date] = mapped_column(sa.Date)
    # The Monday of `day`'s week, so that a report sums weeks without date arithmetic in SQL.
    week: Mapped[dt.date] = mapped_column(sa.Date)


class KpiTechnicianDay(_Tallies, AuditBase):
    """The same tallies by technician as well, for a report on one technician. Kept apart from KpiDay because a
    technician splits a day's row in ten: a report on everyone sums about 20,000 rows a year, not 300,000."""

    __audited__ = False
    __tablename__ = "kpi_technician_days"
    __table_args__ = (
        sa.Index("ix_kpi_technician_days_territory_day", "territory_id", "day"),
        sa.Index("ix_kpi_technician_days_technician_day", "technician_id", "day"),
    )

    row: Mapped[int] = mapped_column(BigInt, sa.Identity(), primary_key=True)
    territory_id: Mapped[uuid.UUID] = mapped_column(GUID)
    service_type_id: Mapped[uuid.UUID | None] = mapped_column(GUID)
    technician_id: Mapped[uuid.UUID | None] = mapped_column(GUID)
    day: Mapped[dt.date] = mapped_column(sa.Date)
    week: Mapped[dt.date] = mapped_column(sa.Date)


class KpiResponseTime(AuditBase):
    """Every answered request of a closed day with its response time: the 90th percentile does not add up by day,
    so it is ranked from these rather than from the events."""

    __audited__ = False
    __tablename__ = "kpi_response_times"
    __table_args__ = (sa.Index("ix_kpi_response_times_territory_day", "territory_id", "day"),)

    row: Mapped[int] = mapped_column(BigInt, sa.Identity(), primary_key=True)
    territory_id: Mapped[uuid.UUID] = mapped_column(GUID)
    service_type_id: Mapped[uuid.UUID | None] = mapped_column(GUID)
    technician_id: Mapped[uuid.UUID | None] = mapped_column(GUID)
    day: Mapped[dt.date] = mapped_column(sa.Date)
    week: Mapped[dt.date] = mapped_column(sa.Date)
    fast: Mapped[bool] = mapped_column(sa.Boolean)
    response_s: Mapped[float] = mapped_column(sa.Float)


class KpiStale(AuditBase):
    """A note that a territory's tallies may be wrong from a day on, written in the transaction that changed the
    events (domain.kpis.stale); the next refresh recomputes those days and deletes the note. No territory: all."""

    __audited__ = False
    __tablename__ = "kpi_stale"

    row: Mapped[int] = mapped_column(BigInt, sa.Identity(), primary_key=True)
    territory_id: Mapped[uuid.UUID | None] = mapped_column(GUID)
    since: Mapped[dt.date] = mapped_column(sa.Date)


class KpiStore(AuditBase):
    """One row: the daily tallies hold every day before `filled_until`, counted with a first-fix window of
    `first_fix_window_days` (another window in the settings means counting them all again)."""

    __audited__ = False
    __tablename__ = "kpi_store"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    filled_until: Mapped[dt.date] = mapped_column(sa.Date)
    first_fix_window_days: Mapped[int] = mapped_column(sa.Integer)
