"""GetKpis: every KPI over a period with its target and weekly trend, and the territories and service types
that do worst. Who asks decides what is counted: a dispatcher's figures cover their territories only."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain import models as m
from domain.errors import InvalidInput, NotFound
from domain.kpis import queries, store
from domain.kpis.definitions import DEFINITIONS, Better, Unit, targets
from domain.kpis.queries import Percentile, Scope
from domain.kpis.tally import Figure, Rates, Tally, figures
from domain.principal import Principal
from domain.services import kpi_settings

MAX_DAYS = 366 * 2
MAX_WEEKS = 52


DEFAULT_DAYS = 28


@dataclass(frozen=True, slots=True)
class KpiQuery:
    """Local dates, both ends included; `weeks` of trend ending with the week of `end`. Without an end, the period
    ends today where the asker's territories are; without a start, it is the 28 days up to the end."""

    start: dt.date | None = None
    end: dt.date | None = None
    weeks: int = 8
    territory_id: uuid.UUID | None = None
    service_type_id: uuid.UUID | None = None
    technician_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class KpiValue:
    key: str
    label: str
    description: str
    unit: Unit
    better: Better
    value: float | None
    target: float
    met: bool | None
    sample: int
    detail: dict[str, float | None]
    trend: list[float | None]


@dataclass(frozen=True, slots=True)
class GroupFigures:
    """One territory's or service type's KPIs over the period; `missed` counts the targets it misses."""

    id: uuid.UUID | None
    code: str
    name: str
    values: dict[str, float | None]
    missed: list[str]
    sample: int


@dataclass(frozen=True, slots=True)
class KpiReport:
    start: dt.date
    end: dt.date
    weeks: list[dt.date]
    kpis: list[KpiValue]
    territories: list[GroupFigures]
    service_types: list[GroupFigures]
    first_fix_window_days: int
    labour_rate_cents_per_hour: int
    travel_rate_cents_per_km: int
    currency: str
    computed_at: dt.datetime
    filters: dict[str, uuid.UUID | None] = field(default_factory=dict)


async def _live_from(session: AsyncSession, now: dt.datetime, window_days: int, refresh: bool) -> dt.date:
    """The first day to count from the events: the daily tallies hold the closed days before it."""
    if refresh:
        stored_until = await store.refresh(session, now=now, window_days=window_days)
    else:
        stored_until = await store.stored_until(session, window_days)
    return min(stored_until, store.closed_before(now))


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


async def _today(session: AsyncSession, scope: frozenset[uuid.UUID] | None, now: dt.datetime) -> dt.date:
    """Today where the territories in scope are: the latest local date among their zones (a report asked for at
    23:30 UTC already includes the Paris morning's work)."""
    statement = sa.select(m.Territory.timezone).distinct()
    if scope is not None:
        statement = statement.where(m.Territory.id.in_(scope))
    zones = list(await session.scalars(statement)) or ["UTC"]
    return max(now.astimezone(ZoneInfo(zone)).date() for zone in zones)


async def _period(
    session: AsyncSession, principal: Principal, query: KpiQuery, now: dt.datetime
) -> tuple[dt.date, dt.date]:
    end = query.end or await _today(session, _territory_scope(principal, query), now)
    start = query.start or end - dt.timedelta(days=DEFAULT_DAYS - 1)
    if end < start:
        raise InvalidInput("end", "the period ends before it starts")
    if (end - start).days >= MAX_DAYS:
        raise InvalidInput("end", f"a period is at most {MAX_DAYS} days")
    return start, end


async def _check_filters(session: AsyncSession, principal: Principal, query: KpiQuery) -> None:
    if not 1 <= query.weeks <= MAX_WEEKS:
        raise InvalidInput("weeks", f"the trend covers 1 to {MAX_WEEKS} weeks")
    if query.territory_id is not None:
        territory = await session.get(m.Territory, query.territory_id)
        if territory is None or not principal.sees_territory(territory.id):
            raise NotFound("territory", query.territory_id)
    if query.service_type_id is not None and await session.get(m.ServiceType, query.service_type_id) is None:
        raise NotFound("service type", query.service_type_id)
    if query.technician_id is not None:
        technician = await session.get(m.Technician, query.technician_id)
        if technician is None or not principal.sees_territory(technician.territory_id):
            raise NotFound("technician", query.technician_id)


def _territory_scope(principal: Principal, query: KpiQuery) -> frozenset[uuid.UUID] | None:
    if query.territory_id is not None:
        return frozenset({query.territory_id})
    return None if principal.is_admin else principal.territory_ids


def _p90(found: list[Percentile], dim: str, key: object) -> dict[str, float | None]:
    return {("fast" if p.fast else "other"): p.seconds for p in found if p.dim == dim and p.key == key}


def _met(better: Better, value: float | None, target: float) -> bool | None:
    if value is None:
        return None
    return value >= target if better is Better.HIGHER else value <= target


async def _names(
    session: AsyncSession, model: type[m.Territory] | type[m.ServiceType]
) -> dict[uuid.UUID, tuple[str, str]]:
    rows = await session.execute(sa.select(model.id, model.code, model.name))
    return {row.id: (row.code, row.name) for row in rows}


def _groups(
    tallies: dict[uuid.UUID | None, Tally],
    names: dict[uuid.UUID, tuple[str, str]],
    rates: Rates,
    goals: dict[str, float],
    found: list[Percentile],
    dim: str,
) -> list[GroupFigures]:
    result = []
    for key, tally in tallies.items():
        values = figures(tally, rates, _p90(found, dim, key))
        # Every kind of event counted: a territory that only missed deadlines is a group (the worst one).
        sample = (
            tally.visits
            + tally.ratings
            + tally.complaints
            + tally.complaints_resolved
            + tally.fast_responses
            + tally.other_responses
            + tally.deadlines
            + tally.arrivals
        )
        if sample == 0 and tally.jobs_completed == 0:
            continue  # shift time alone (utilization under no service type) is not a group
        code, name = names.get(key, ("-", "Unclassified")) if key is not None else ("-", "Unclassified")
        missed = [d.key for d in DEFINITIONS if _met(d.better, values[d.key].value, goals[d.key]) is False]
        result.append(GroupFigures(key, code, name, {k: f.value for k, f in values.items()}, missed, sample))
    # Worst first: the most targets missed, then the biggest (where it matters most).
    return sorted(result, key=lambda g: (-len(g.missed), -g.sample, g.name))


async def kpi_report(
    session: AsyncSession,
    principal: Principal,
    query: KpiQuery,
    *,
    now: dt.datetime,
    stored: bool = True,
    refresh: bool = True,
) -> KpiReport:
    """The report as of `now`. The closed days come from the daily tallies, refreshed first in the session's
    transaction unless `refresh` is False (the caller just did, in a transaction of its own); `stored=False`
    counts every day from the events instead (the tallies' own check)."""
    await _check_filters(session, principal, query)
    start, end = await _period(session, principal, query, now)
    settings = await kpi_settings.current(session)
    goals = targets(settings.targets)
    rates = Rates(settings.labour_rate_cents_per_hour, settings.travel_rate_cents_per_km)
    trend_end = _monday(end) + dt.timedelta(days=7)
    weeks = [trend_end - dt.timedelta(days=7 * (query.weeks - i)) for i in range(query.weeks)]
    scope = Scope(
        start=start,
        end=end + dt.timedelta(days=1),
        trend_start=weeks[0],
        trend_end=trend_end,
        now=now,
        first_fix_window_s=settings.first_fix_window_days * 86400,
        territory_ids=_territory_scope(principal, query),
        service_type_id=query.service_type_id,
        technician_id=query.technician_id,
        live_from=await _live_from(session, now, settings.first_fix_window_days, refresh) if stored else None,
    )
    rows = await queries.tallies(session, scope)
    found = await queries.percentiles(session, scope)

    period = Tally.total(t for (_, _, _, in_period), t in rows.items() if in_period)
    by_week: dict[dt.date, Tally] = defaultdict(Tally)
    by_territory: dict[uuid.UUID | None, Tally] = defaultdict(Tally)
    by_service_type: dict[uuid.UUID | None, Tally] = defaultdict(Tally)
    for (territory, service_type, week, in_period), tally in rows.items():
        by_week[week].add(tally)
        if in_period:
            by_territory[territory].add(tally)
            by_service_type[service_type].add(tally)
    for tally in by_service_type.values():
        tally.shift_s = 0  # shift time has no service type: no utilization by service type

    overall = figures(period, rates, _p90(found, "all", None))
    weekly: list[dict[str, Figure]] = [
        figures(by_week.get(week, Tally()), rates, _p90(found, "week", week)) for week in weeks
    ]
    kpis = [
        KpiValue(
            key=d.key,
            label=d.label,
            description=d.description,
            unit=d.unit,
            better=d.better,
            value=overall[d.key].value,
            target=goals[d.key],
            met=_met(d.better, overall[d.key].value, goals[d.key]),
            sample=overall[d.key].sample,
            detail=overall[d.key].detail,
            trend=[w[d.key].value for w in weekly],
        )
        for d in DEFINITIONS
    ]
    return KpiReport(
        start=start,
        end=end,
        weeks=weeks,
        kpis=kpis,
        territories=_groups(
            by_territory, await _names(session, m.Territory), rates, goals, found, "territory"
        ),
        service_types=_groups(
            by_service_type, await _names(session, m.ServiceType), rates, goals, found, "service_type"
        ),
        first_fix_window_days=settings.first_fix_window_days,
        labour_rate_cents_per_hour=settings.labour_rate_cents_per_hour,
        travel_rate_cents_per_km=settings.travel_rate_cents_per_km,
        currency=settings.currency,
        computed_at=now,
        filters={
            "territory_id": query.territory_id,
            "service_type_id": query.service_type_id,
            "technician_id": query.technician_id,
        },
    )
