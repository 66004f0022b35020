"""The daily tallies: every closed day's KPI measures, kept so that a report over a year sums a few thousand rows
instead of recounting a million events (docs/kpis.md, "Daily tallies").

A day is closed once it ended everywhere at least a day ago (every day before today's UTC date minus two): its
deadlines have all passed and its shifts have ended, so what it counts no longer depends on the time of the
report, only on the events. Those change (a rating, a late
answer, a reopened job, an offline device syncing a week's work), and every transaction that changes them notes
the territories and days it made stale (domain.kpis.stale). `refresh` counts the stale days again, and the days
that closed since the last refresh, from the same statements a live report runs (domain.kpis.queries), so the
stored days and the live ones cannot disagree.

Every report refreshes first (a KPI request in a transaction of its own, api.kpi_tallies; normally nothing is
left, the watch refreshing every minute), then reads the days before the store's end from here and computes the
later ones live.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from domain import models as m
from domain.kpis import queries
from domain.kpis.queries import MEASURES, Scope, measure_value
from domain.kpis.stale import BEGINNING
from domain.services import kpi_settings

STORE_ID = 1
# The days before (today in UTC - CLOSED_AFTER) are closed in every time zone: a day ends at most 12 hours after
# the UTC one, its deadlines fall by then and its shifts end within the next day.
CLOSED_AFTER = dt.timedelta(days=2)
# Closed days are counted as if the report were asked at the end of time: nothing on them is still to come.
_END_OF_TIME = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)
_INSERT_CHUNK = 5000

Key = tuple[uuid.UUID, uuid.UUID | None, uuid.UUID | None, dt.date]


def closed_before(now: dt.datetime) -> dt.date:
    """The first day that is not closed at `now`."""
    return now.astimezone(dt.UTC).date() - CLOSED_AFTER


async def _state(session: AsyncSession) -> m.KpiStore:
    """The store's row, locked until the transaction ends, so that refreshes run one at a time. A new one holds
    nothing (and no window), so the first refresh counts every day."""
    statement = sa.select(m.KpiStore).where(m.KpiStore.id == STORE_ID).with_for_update()
    state = (await session.execute(statement)).scalar_one_or_none()
    if state is None:
        dialect = session.get_bind().dialect.name
        insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(m.KpiStore)
        await session.execute(
            insert.values(
                id=STORE_ID, filled_until=BEGINNING, first_fix_window_days=0
            ).on_conflict_do_nothing()
        )
        state = (await session.execute(statement)).scalar_one()
    return state


async def _current(session: AsyncSession, window_days: int, closed: dt.date) -> dt.date | None:
    """How far the tallies reach when nothing is stale and no day closed since; None when a refresh has work."""
    filled = await stored_until(session, window_days)
    stale = await session.scalar(sa.select(sa.exists().where(m.KpiStale.row.is_not(None))))
    return None if filled == BEGINNING or filled < closed or stale else filled


async def stored_until(session: AsyncSession, window_days: int) -> dt.date:
    """The first day the tallies do not hold, as they stand (nothing, if they were counted with another window)."""
    found = (
        await session.execute(
            sa.select(m.KpiStore.filled_until, m.KpiStore.first_fix_window_days).where(
                m.KpiStore.id == STORE_ID
            )
        )
    ).one_or_none()
    if found is None or found.first_fix_window_days != window_days:
        return BEGINNING
    return _as_date(found.filled_until)


async def _take_notes(session: AsyncSession) -> dict[uuid.UUID | None, dt.date]:
    """The stale notes, deleted as they are read: a note committed meanwhile stays for the next refresh."""
    notes = await session.execute(sa.delete(m.KpiStale).returning(m.KpiStale.territory_id, m.KpiStale.since))
    found: dict[uuid.UUID | None, dt.date] = {}
    for territory, since in notes:
        day = since if isinstance(since, dt.date) else dt.date.fromisoformat(since)
        found[territory] = min(found.get(territory, day), day)
    return found


def _key(row: Any) -> Key:
    return (row.territory_id, row.service_type_id, row.technician_id, _as_date(row.day))


def _as_date(value: dt.date | str) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


async def _count(
    session: AsyncSession,
    territories: frozenset[uuid.UUID] | None,
    first: dt.date,
    until: dt.date,
    window_days: int,
) -> None:
    """Count the days `[first, until)` of the territories (None: all) again, replacing what was stored."""
    if first >= until:
        return
    scope = Scope(
        start=first,
        end=until,
        trend_start=first,
        trend_end=until,
        now=_END_OF_TIME,
        first_fix_window_s=window_days * 86400,
        territory_ids=territories,
    )
    for table in (m.KpiDay, m.KpiTechnicianDay, m.KpiResponseTime):
        where = [table.day >= first, table.day < until]
        if territories is not None:
            where.append(table.territory_id.in_(territories))
        await session.execute(sa.delete(table).where(*where))
    days: dict[Key, dict[str, Any]] = defaultdict(dict)
    for statement in queries.daily_statements(scope):
        for row in await session.execute(statement):
            measures = days[_key(row)]
            for name, value in row._mapping.items():
                if name in MEASURES and value:
                    measures[name] = measures.get(name, 0) + measure_value(name, value)
    everyone: dict[Key, dict[str, Any]] = defaultdict(dict)
    for (territory, service_type, _, day), measures in days.items():
        total = everyone[(territory, service_type, None, day)]
        for name, value in measures.items():
            total[name] = total.get(name, 0) + value
    await _insert(session, m.KpiTechnicianDay, days)
    await _insert(session, m.KpiDay, everyone, technician=False)
    answered = queries.response_times_statement(scope).subquery()
    await session.execute(
        sa.insert(m.KpiResponseTime).from_select(
            ["territory_id", "service_type_id", "technician_id", "day", "week", "fast", "response_s"],
            sa.select(answered),
        )
    )


async def _insert(
    session: AsyncSession,
    table: type[m.KpiDay] | type[m.KpiTechnicianDay],
    days: dict[Key, dict[str, Any]],
    *,
    technician: bool = True,
) -> None:
    rows = [
        {
            "territory_id": territory,
            "service_type_id": service_type,
            **({"technician_id": who} if technician else {}),
            "day": day,
            "week": day - dt.timedelta(days=day.weekday()),
            **{name: measures.get(name, 0) for name in MEASURES},
        }
        for (territory, service_type, who, day), measures in days.items()
    ]
    for i in range(0, len(rows), _INSERT_CHUNK):
        await session.execute(sa.insert(table), rows[i : i + _INSERT_CHUNK])


async def refresh_now(session: AsyncSession, now: dt.datetime) -> dt.date:
    """`refresh` with the first-fix window of the settings (the background refresh)."""
    settings = await kpi_settings.current(session)
    return await refresh(session, now=now, window_days=settings.first_fix_window_days)


async def refresh(session: AsyncSession, *, now: dt.datetime, window_days: int) -> dt.date:
    """Bring the daily tallies up to date with the events; the first day they do not hold.

    Runs in the caller's transaction: the refresh and the notes it consumed commit (or roll back) together. With
    nothing to do (the usual case: the watch keeps up) it neither locks nor writes, so reports run side by side."""
    closed = closed_before(now)
    current = await _current(session, window_days, closed)
    if current is not None:
        return current
    state = await _state(session)
    stale = await _take_notes(session)
    if state.first_fix_window_days != window_days:
        # Nothing stored yet, or counted with another first-fix window: count every day.
        await _count(session, None, BEGINNING, closed, window_days)
        state.filled_until, state.first_fix_window_days = closed, window_days
        await session.flush()
        return closed
    filled = _as_date(state.filled_until)
    until = max(filled, closed)
    everywhere = stale.pop(None, None)
    if closed > filled:  # days closed since the last refresh
        everywhere = min(everywhere or filled, filled)
    if everywhere is not None:
        await _count(session, None, everywhere, until, window_days)
    # A territory's own notes from before the days just counted everywhere.
    earlier = {t: day for t, day in stale.items() if everywhere is None or day < everywhere}
    if earlier:
        await _count(
            session,
            frozenset(t for t in earlier if t is not None),
            min(earlier.values()),
            everywhere or until,
            window_days,
        )
    if until != filled:
        state.filled_until = until
        await session.flush()
    return until
