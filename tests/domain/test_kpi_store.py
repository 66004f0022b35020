"""Issue 7: the daily tallies (domain.kpis.store) give the report the events would give, whatever changed since.

The report reads closed days from the tallies and counts only the last ones from the events; each write notes the
days it made stale (domain.kpis.stale). The property: after any sequence of writes made the way the app makes them
(through its session), some of them after the tallies were filled, the report equals the one counted entirely from
the events, overall, by week, by territory and service type, and under each filter."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain import models as m
from domain.enums import Channel, CompletionOutcome, JobStatus
from domain.kpis import store
from domain.kpis.report import KpiQuery, KpiReport, kpi_report
from domain.services import kpi_settings
from tests.conftest import _empty
from tests.domain.kpi_world import ADMIN, KpiWorld, utc

_START = dt.date(2025, 1, 1)
_ORIGIN = utc("2025-01-01")
_DAYS = 40
_FIRST_NOW = utc("2025-01-20", 9)
_SUNDAY_EVENING = 4 * 24 * 60 + 20 * 60  # minutes from _ORIGIN

# One write: what it does, and numbers that pick its place, its target among the jobs so far, and a detail.
_WRITE = st.tuples(
    st.sampled_from(
        [
            "visit",
            "visit",
            "rating",
            "reopen",
            "follow_up",
            "move",
            "reassign",
            "retype",
            "complaint",
            "resolve",
            "shift",
            "lengthen_shift",
            "break",
            "late_answer",
            "zone",
            "window",
            "later",
        ]
    ),
    st.integers(min_value=0, max_value=_DAYS * 24 * 60 - 1),
    st.integers(min_value=0, max_value=1000),
    st.integers(min_value=1, max_value=5),
)


class Writes:
    """Applies writes to the world through the app's session, remembering what exists to pick targets from."""

    def __init__(self, world: KpiWorld, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.world = world
        self.sessionmaker = sessionmaker
        self.jobs: list[uuid.UUID] = []
        self.complaints: list[uuid.UUID] = []
        self.shifts: list[uuid.UUID] = []
        self.now = _FIRST_NOW

    def _pick(self, found: list[uuid.UUID], n: int) -> uuid.UUID | None:
        return found[n % len(found)] if found else None

    async def apply(self, kind: str, minutes: int, n: int, detail: int) -> None:
        at = _ORIGIN + dt.timedelta(minutes=minutes)
        territory = "paris" if n % 2 else "ny"
        technician = {"paris": "tech_p", "ny": "tech_ny"}[territory] if n % 3 else "tech_p2"
        w = self.world
        async with w.orm(self.sessionmaker) as s:
            job = self._pick(self.jobs, n)
            if kind == "visit" or (job is None and kind in ("rating", "reopen", "follow_up", "late_answer")):
                job = await w.job(
                    territory,
                    "leak" if detail % 2 else "fault",
                    technician=technician,
                    channel=Channel.PHONE if detail > 2 else Channel.EMAIL,
                    received_at=at - dt.timedelta(hours=detail),
                    respond_by=at - dt.timedelta(hours=detail - 1),
                    resolve_by=at + dt.timedelta(hours=detail),
                    value_cents=detail * 10_000,
                )
                await w.event(job, JobStatus.SCHEDULED, at - dt.timedelta(minutes=30 * detail))
                await w.appointment(job, at - dt.timedelta(hours=1), at + dt.timedelta(hours=1))
                await w.event(job, JobStatus.ON_SITE, at)
                await w.completion(
                    job,
                    at + dt.timedelta(minutes=45),
                    arrived_at=at,
                    outcome=CompletionOutcome.FIXED if detail > 1 else CompletionOutcome.FOLLOW_UP,
                    on_site_s=detail * 900,
                    travel_s=detail * 120,
                    travel_m=detail * 1500,
                    technician=technician,
                )
                self.jobs.append(job)
            elif kind == "rating" and job is not None:
                if await s.scalar(sa.select(m.Rating.id).where(m.Rating.job_id == job)) is None:
                    await w.rating(job, detail, self.now - dt.timedelta(days=detail), territory)
            elif kind == "reopen" and job is not None:
                await w.event(job, JobStatus.REOPENED, self.now - dt.timedelta(days=detail))
            elif kind == "follow_up" and job is not None:
                follow = await w.job(
                    territory, technician=technician, origin=job, request_of=job, created_at=self.now
                )
                self.jobs.append(follow)
            elif kind in ("move", "reassign", "retype") and job is not None:
                row = await s.get(m.Job, job)
                assert row is not None
                if kind == "move":
                    row.territory_id = w.territories[
                        "ny" if row.territory_id == w.territories["paris"] else "paris"
                    ]
                elif kind == "retype":
                    row.service_type_id = w.service_types["fault" if detail % 2 else "leak"]
                else:
                    assignment = await s.scalar(sa.select(m.Assignment).where(m.Assignment.job_id == job))
                    if assignment is not None:
                        assignment.technician_id = w.technicians[technician]
            elif kind == "late_answer" and job is not None:
                await w.event(job, JobStatus.DISPATCHED, at - dt.timedelta(days=3))
            elif kind == "complaint":
                before = set(await s.scalars(sa.select(m.Complaint.id)))
                await w.complaint(at, territory=territory, job=job if detail % 2 else None)
                self.complaints += list(set(await s.scalars(sa.select(m.Complaint.id))) - before)
            elif kind == "resolve" and self.complaints:
                complaint = await s.get(m.Complaint, self._pick(self.complaints, n))
                assert complaint is not None
                complaint.resolved_at = self.now - dt.timedelta(hours=detail)
            elif kind == "shift":
                before = set(await s.scalars(sa.select(m.Shift.id)))
                await w.shift(technician, at, at + dt.timedelta(hours=detail + 4))
                self.shifts += list(set(await s.scalars(sa.select(m.Shift.id))) - before)
            elif kind in ("lengthen_shift", "break") and self.shifts:
                shift = await s.get(m.Shift, self._pick(self.shifts, n))
                assert shift is not None
                if kind == "break":
                    s.add(
                        m.ShiftBreak(
                            shift_id=shift.id,
                            earliest_start=shift.starts_at,
                            latest_end=shift.ends_at,
                            duration_s=detail * 600,
                        )
                    )
                else:
                    shift.ends_at += dt.timedelta(hours=detail)
            elif kind == "zone":
                zone = await s.get(m.Territory, w.territories[territory])
                assert zone is not None
                zone.timezone = "Asia/Tokyo" if zone.timezone != "Asia/Tokyo" else "Europe/Paris"
            elif kind == "window":
                await kpi_settings.update(s, {"first_fix_window_days": detail * 3})
            elif kind == "later":
                self.now += dt.timedelta(days=detail)


async def _report(
    sessionmaker: async_sessionmaker[AsyncSession], now: dt.datetime, stored: bool, **filters: Any
) -> KpiReport:
    async with sessionmaker() as s:
        query = KpiQuery(_START, now.date(), weeks=8, **filters)
        found = await kpi_report(s, ADMIN, query, now=now, stored=stored)
        await s.commit()  # a stored report keeps the refresh, as a request does
    return found


def _figures(found: KpiReport) -> dict[str, Any]:
    def rounded(v: float | None) -> float | None:
        return None if v is None else round(v, 6)

    return {
        "kpis": {k.key: (rounded(k.value), k.sample, [rounded(t) for t in k.trend]) for k in found.kpis},
        "territories": {g.id: {k: rounded(v) for k, v in g.values.items()} for g in found.territories},
        "service_types": {g.id: {k: rounded(v) for k, v in g.values.items()} for g in found.service_types},
    }


async def _check(sessionmaker: async_sessionmaker[AsyncSession], world: KpiWorld, now: dt.datetime) -> None:
    for filters in (
        {},
        {"territory_id": world.territories["paris"]},
        {"service_type_id": world.service_types["leak"]},
        {"technician_id": world.technicians["tech_p"]},
    ):
        stored = await _report(sessionmaker, now, True, **filters)
        live = await _report(sessionmaker, now, False, **filters)
        assert _figures(stored) == _figures(live), filters


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(writes=st.lists(_WRITE, min_size=2, max_size=10))
# Writes that change days already stored, every time (a visit on Sunday the 5th at 20:00 UTC, stored by the
# refresh after it): the job moved to New York, given to a New York technician, answered late, reopened and then
# judged by a 3-day window; Paris's clocks set to Tokyo's (the visit moves to Monday the 6th there, the next week).
@example(writes=[("visit", _SUNDAY_EVENING, 1, 3), ("move", 0, 0, 1)])
@example(writes=[("visit", _SUNDAY_EVENING, 1, 3), ("reassign", 0, 2, 1)])
@example(writes=[("visit", _SUNDAY_EVENING, 1, 3), ("late_answer", 0, 0, 1)])
@example(writes=[("visit", _SUNDAY_EVENING, 1, 3), ("reopen", 0, 0, 5), ("window", 0, 0, 1)])
@example(writes=[("visit", _SUNDAY_EVENING, 1, 3), ("zone", 0, 1, 1)])
def test_the_stored_days_give_the_report_the_events_give(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    writes: list[tuple[str, int, int, int]],
) -> None:
    async def run() -> None:
        await _empty(engine)
        world = KpiWorld(engine)
        async with world.rows():
            await world.base()
        applied = Writes(world, sessionmaker)
        for i, write in enumerate(writes):
            await applied.apply(*write)
            if i % 2 == 0:
                # The tallies fill up between writes, as the background refresh keeps them.
                async with sessionmaker() as s:
                    window = (await kpi_settings.current(s)).first_fix_window_days
                    await store.refresh(s, now=applied.now, window_days=window)
                    await s.commit()
        await _check(sessionmaker, world, applied.now)

    asyncio.run(run())


async def test_a_write_notes_its_territories_from_the_jobs_first_day(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    world = KpiWorld(engine)
    async with world.rows():
        await world.base()
        job = await world.job("paris", channel=Channel.PHONE, received_at=utc("2025-01-10", 8))
    async with world.orm(sessionmaker):
        await world.rating(job, 5, utc("2025-02-20", 10))
    async with sessionmaker() as s:
        notes = (await s.execute(sa.select(m.KpiStale.territory_id, m.KpiStale.since))).all()
    # The rating counts on the 20th of February, but the job's response on the 10th of January: from the day
    # before (a local day can start a day before the UTC one).
    assert notes == [(world.territories["paris"], dt.date(2025, 1, 9))]


async def test_the_store_holds_the_closed_days_only(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    world = KpiWorld(engine)
    async with world.rows():
        await world.base()
    async with world.orm(sessionmaker):
        for day in ("2025-01-10", "2025-01-18", "2025-01-19"):
            await world.rating(await world.job("paris"), 4, utc(day, 12))
    now = utc("2025-01-20", 9)
    async with sessionmaker() as s:
        assert await store.refresh(s, now=now, window_days=30) == dt.date(2025, 1, 18)
        await s.commit()
    async with sessionmaker() as s:
        days = sorted(await s.scalars(sa.select(m.KpiDay.day).where(m.KpiDay.ratings > 0)))
        assert days == [dt.date(2025, 1, 10)]  # the 18th and 19th are not closed yet: counted live
        notes = await s.scalar(sa.select(sa.func.count()).select_from(m.KpiStale))
        assert notes == 0  # the refresh consumed the notes
    found = await _report(sessionmaker, now, True)
    assert next(k for k in found.kpis if k.key == "satisfaction").sample == 3


@pytest.mark.parametrize("window", [7, 30])
async def test_another_first_fix_window_counts_the_days_again(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession], window: int
) -> None:
    world = KpiWorld(engine)
    async with world.rows():
        await world.base()
    async with world.orm(sessionmaker):
        job = await world.job("paris")
        await world.completion(job, utc("2025-01-05", 12))
        await world.event(job, JobStatus.REOPENED, utc("2025-01-20", 12))  # 15 days after
    now = utc("2025-02-10", 9)
    async with sessionmaker() as s:
        await store.refresh(s, now=now, window_days=30)
        await s.commit()
    async with sessionmaker() as s:
        await kpi_settings.update(s, {"first_fix_window_days": window})
        await s.commit()
    found = await _report(sessionmaker, now, True)
    fix = next(k for k in found.kpis if k.key == "first_time_fix")
    assert fix.value == (1.0 if window == 7 else 0.0)
