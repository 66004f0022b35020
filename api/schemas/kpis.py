"""The KPI report and settings as the API shows them: shares as fractions, durations in seconds, money in cents."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

import msgspec

from api.schemas.base import Cents, Read, Write
from domain.kpis.definitions import Better, Unit


class KpiOut(Read, frozen=True):
    key: str
    label: str
    description: str
    unit: Unit
    better: Better
    # None when nothing was measured (no ratings in the period, say), never a made-up zero.
    value: float | None
    target: float
    met: bool | None
    # How many observations the value rests on (ratings, responses, deadlines, visits...).
    sample: int
    # Figures shown beside the value: `p90_s` for response times, `metres_per_job`, `cost_per_job_cents`...
    detail: dict[str, float | None]
    # One value per week of `weeks`, oldest first.
    trend: list[float | None]


class GroupOut(Read, frozen=True):
    id: uuid.UUID | None
    code: str
    name: str
    values: dict[str, float | None]
    # The KPIs whose target this group misses; the list is ordered worst first.
    missed: list[str]
    sample: int


class KpiFiltersOut(Read, frozen=True):
    territory_id: uuid.UUID | None
    service_type_id: uuid.UUID | None
    technician_id: uuid.UUID | None


class KpiReportOut(Read, frozen=True):
    start: dt.date
    end: dt.date
    # The Monday starting each week of the trend.
    weeks: list[dt.date]
    kpis: list[KpiOut]
    territories: list[GroupOut]
    service_types: list[GroupOut]
    filters: KpiFiltersOut
    first_fix_window_days: int
    labour_rate_cents_per_hour: int
    travel_rate_cents_per_km: int
    currency: str
    computed_at: dt.datetime


class KpiSettingsOut(Read, frozen=True):
    first_fix_window_days: int
    labour_rate_cents_per_hour: int
    travel_rate_cents_per_km: int
    currency: str
    # Every KPI's target in force (the organisation's choice or the default).
    targets: dict[str, float]
    # The defaults, for a settings form to show and to go back to.
    default_targets: dict[str, float]
    # None while nobody has changed the defaults.
    updated_at: dt.datetime | None


Target = Annotated[float, msgspec.Meta(ge=0, le=10 * 365 * 86400)]


class KpiSettingsPatch(Write, frozen=True):
    first_fix_window_days: Annotated[int, msgspec.Meta(ge=1, le=365)] | None = None
    labour_rate_cents_per_hour: Cents | None = None
    travel_rate_cents_per_km: Cents | None = None
    currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")] | None = None
    # KPI key -> target; null puts a KPI back to its default. Shares are fractions (0.95).
    targets: Annotated[dict[str, Target | None], msgspec.Meta(max_length=40)] | None = None
