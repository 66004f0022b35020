"""Issue 7: every KPI against an answer computed by hand.

Each test writes a few jobs, visits, ratings and complaints at exact moments (tests/domain/kpi_world.py) and states
the expected figure as arithmetic on the scenario's numbers, with the reason for each term. The calendar is January
2025: Monday the 6th to Sunday the 12th is the usual period; Paris is UTC+1 and New York UTC-5 that month, so
23:30 UTC on the 12th is already the 13th in Paris while 02:00 UTC on the 13th is still the 12th in New York."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain import models as m
from domain.enums import AppointmentStatus, Channel, CompletionOutcome, JobStatus
from domain.errors import InvalidInput, NotFound
from domain.kpis.definitions import DEFINITIONS
from domain.kpis.report import KpiQuery, KpiReport, kpi_report
from domain.services import kpi_settings
from tests.domain.kpi_world import (
    ADMIN,
    NEW_YORK,
    PARIS,
    KpiWorld,
    kpi,
    new_york,
    paris,
    report,
    utc,
    value,
)

H = 3600
DAY = 86400


def close(expected: float) -> Any:
    """Durations go through the database's date arithmetic (julianday on SQLite): equal to a millisecond."""
    return pytest.approx(expected, rel=1e-9, abs=1e-3)


@pytest.fixture
async def w(engine: AsyncEngine) -> KpiWorld:
    world = KpiWorld(engine)
    async with world.rows():
        await world.base()
    return world


# Satisfaction ---------------------------------------------------------------------------------------------------------


async def test_satisfaction_counts_each_rating_on_its_local_date(
    w: KpiWorld, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with w.rows():
        for territory, score, at in (
            ("paris", 5, utc("2025-01-05", 23, 30)),  # 00:30 on Monday the 6th in Paris: in
            ("paris", 4, paris("2025-01-08")),  # in
            ("paris", 2, paris("2025-01-10")),  # in
            ("paris", 1, utc("2025-01-12", 23, 30)),  # 00:30 on the 13th in Paris: out
            ("paris", 5, paris("2025-01-05", 23, 59)),  # Sunday before: out
            ("ny", 3, utc("2025-01-13", 3)),  # 22:00 on the 12th in New York: in
            ("ny", 5, utc("2025-01-06", 4)),  # 23:00 on the 5th in New York: out
        ):
            await w.rating(await w.job(territory), score, at, territory)
    found = await report(sessionmaker, "2025-01-06", "2025-01-12")

    # In: 5 and 4 (good), 2, and New York's 3.
    assert value(found, "satisfaction") == 2 / 4
    assert value(found, "satisfaction_mean") == (5 + 4 + 2 + 3) / 4
    assert kpi(found, "satisfaction").sample == 4
    assert kpi(found, "satisfaction").met is False  # 0.5 < 0.95
    assert kpi(found, "satisfaction_mean").met is False  # 3.5 < 4.5
    by_code = {g.code: g.values for g in found.territories}
    assert by_code["paris"]["satisfaction"] == 2 / 3
    assert by_code["paris"]["satisfaction_mean"] == (5 + 4 + 2) / 3
    assert by_code["new-york"]["satisfaction"] == 0 / 1
    assert by_code["new-york"]["satisfaction_mean"] == 3 / 1


async def test_a_period_without_ratings_has_no_satisfaction_rather_than_zero(
    w: KpiWorld, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with w.rows():
        await w.rating(await w.job(), 1, paris("2025-01-13"))  # the week after
    found = await report(sessionmaker, "2025-01-06", "2025-01-12")

    for key in ("satisfaction", "satisfaction_mean"):
        assert value(found, key) is None
        assert kpi(found, key).met is None
        assert kpi(found, key).sample == 0
        assert kpi(found, key).trend == [None]
    # Nothing at all happened in the period: no KPI has a value, none is judged, no group is listed.
    assert all(k.value is None and k.met is None for k in found.kpis)
    assert found.territories == []
    assert found.service_types == []


async def test_the_local_date_follows_the_zone_rules_not_a_fixed_offset(
    w: KpiWorld, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Summer time: Paris is UTC+2 from the 30th of March 2025, so 22:30 UTC that Sunday is already Monday."""
    async with w.rows():
        await w.rating(await w.job(), 5, utc("2025-03-30", 21, 30))  # 23:30 CEST, Sunday: week of the 24th
        await w.rating(await w.job(), 1, utc("2025-03-30", 22, 30))  # 00:30 CEST, Monday: week of the 31st
        # New York is UTC-4 from the 9th: 04:30 UTC on the 10th is 00:30 on Monday there (23:30 at UTC-5).
        await w.rating(await w.job("ny"), 2, utc("2025-03-10", 4, 30), "ny")
    found = await report(sessionmaker, "2025-03-24", "2025-03-30", weeks=3)

    assert found.weeks == [dt.date(2025, 3, 10), dt.date(2025, 3, 17), dt.date(2025, 3, 24)]
    assert value(found, "satisfaction_mean") == 5 / 1
    assert kpi(found, "satisfaction_mean").trend == [2 / 1, None, 5 / 1]
    after = await report(sessionmaker, "2025-03-31", "2025-03-31")
    assert value(after, "satisfaction_mean") == 1 / 1


# Response time -------------------------------------------------------------------------------------------------------


async def test_response_time_mean_and_nearest_rank_p90_by_channel_group(
    w: KpiWorld, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    received = paris("2025-01-08", 10)

    def after(seconds: int) -> dt.datetime:
        return received + dt.timedelta(seconds=seconds)

    async with w.rows():

        async def request(channel: Channel, at: dt.datetime = received) -> uuid.UUID:
            return await w.job(channel=channel, received_at=at, status=JobStatus.SCHEDULED)

        async def offered(job: uuid.UUID, seconds: int) -> None:
            await w.appointment(
                job,
                paris("2025-01-09", 9),
                paris("2025-01-09", 12),
                status=AppointmentStatus.OFFERED,
                created_at=after(seconds),
            )

        # Phone and chat: ten answered requests.
        j = await request(Channel.PHONE)
        await offered(j, -10)  # an appointment stamped before the request (clocks): 0
        j = await request(Channel.CHAT)
        await offered(j, 50)
        await w.event(j, JobStatus.SCHEDULED, after(20))  # the earlier of the two: 20
        j = await request(Channel.PHONE)
        await w.event(j, JobStatus.DISPATCHED, after(30))  # 30
        j = await request(Channel.PHONE)
        await w.event(j, JobStatus.EN_ROUTE, after(5))  # not a response
        await w.event(j, JobStatus.SCHEDULED, after(40))  # 40
        j = await request(Channel.CHAT)
        await offered(j, 50)  # 50
        for seconds in (60, 70, 80, 90):
            j = await request(Channel.PHONE)
            if seconds % 20:
                await offered(j, seconds)
            else:
                await w.event(j, JobStatus.SCHEDULED, after(seconds))
        j = await request(Channel.PHONE)
        await offered(j, 1000)  # the slow one
        await request(Channel.PHONE)  # never answered: not counted
        late = await request(Channel.PHONE, utc("2025-01-12", 23, 30))  # the 13th in Paris: out
        await offered(late, 5)
        # E-mail, web and app.
        j = await request(Channel.EMAIL)
        await offered(j, H)  # 3600
        j = await request(Channel.WEB)
        await w.event(j, JobStatus.SCHEDULED, after(2 * H))  # 7200
        j = await request(Channel.APP)
        await w.event(j, JobStatus.DISPATCHED, after(H // 2))  # 1800
        await request(Channel.APP)  # never answered
    found = await report(sessionmaker, "2025-01-06", "2025-01-12")

    fast = kpi(found, "response_phone_chat")
    assert fast.sample == 10
    assert fast.value == close((0 + 20 + 30 + 40 + 50 + 60 + 70 + 80 + 90 + 1000) / 10)
    # Nearest rank: ceil(0.9 x 10) = 9th of the sorted ten, 90 s (interpolating would give 181).
    assert fast.detail["p90_s"] == close(90)
    assert fast.met is True  # 144 s <= 5 min
    other = kpi(found, "response_other")
    assert other.sample == 3
    assert other.value == close((3600 + 7200 + 1800) / 3)
    assert other.detail["p90_s"] == close(7200)  # ceil(0.9 x 3) = 3rd of 1800, 3600, 7200
    assert other.met is True  # 70 min <= 4 h
    assert fast.trend == [close(144)]


async def test_a_follow_up_sharing_the_first_visit_s_request_is_no_second_response(
    w: KpiWorld, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    received = paris("2025-01-08", 10)
    async with w.rows():
        first = await w.job(channel=Channel.PHONE, received_at=received, status=JobStatus.CLOSED)
        await w.event(first, JobStatus.SCHEDULED, received + dt.timedelta(seconds=120))
        # Booked two days after the request, for a visit nobody asked to be answered fast: not a response time.
        follow_up = await w.job(origin=first, request_of=first, status=JobStatus.SCHEDULED)
        await w.event(follow_up, JobStatus.SCHEDULED, paris("2025-01-10", 9))
    found = await report(sessionmaker, "2025-01-06", "2025-01-12")
    fast = kpi(found, "response_phone_chat")
    assert (fast.sample, fast.value) == (1, close(120 / 1))


# SLA compliance -------------------------------------------------------------------------------------------------------


async def test_sla_counts_deadlines_met_or_passed_and_never_a_cancelled_jobs(
    w: KpiWorld, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    now = paris("2025-01-12", 12)
    async with w.rows():
        # a: responded an hour early (an appointment offered), completed an hour early: 2 met.
        a = await w.job(respond_by=paris("2025-01-07", 12), resolve_by=paris("2025-01-09", 12))
        await w.appointment(
            a, paris("2025-01-09", 9), paris("2025-01-09", 11), created_at=paris("2025-01-07", 11)
        )
        await w.completion(a, paris("2025-01-09", 11))
        # b: scheduled an hour late (missed); completed at 11:59 on the device, synced at 12:30 (met).
        b = await w.job(respond_by=paris("2025-01-07", 12), resolve_by=paris("2025-01-09", 12))
        await w.event(b, JobStatus.SCHEDULED, paris("2025-01-07", 13))
        await w.completion(b, paris("2025-01-09", 12, 30), reported_at=paris("2025-01-09", 11, 59))
        # c: dispatched at the very deadline (met); resolve-by still ahead and not yet met: not counted.
        c = await w.job(
            respond_by=paris("2025-01-08", 12),
            resolve_by=paris("2025-01-12", 18),
            status=JobStatus.DISPATCHED,
        )
        await w.event(c, JobStatus.DISPATCHED, paris("2025-01-08", 12))
        # d: never responded (missed, passed); completed the next morning (missed).
        d = await w.job(respond_by=paris("2025-01-09", 12), resolve_by=paris("2025-01-09", 18))
        await w.completion(d, paris("2025-01-10", 9))
        # e: cancelled: its passed, unmet deadlines do not count.
        await w.job(
            respond_by=paris("2025-01-07"), resolve_by=paris("2025-01-08"), status=JobStatus.CANCELLED
        )
        # f: respond-by tonight, not answered yet: not counted.
        await w.job(respond_by=paris("2025-01-12", 20), status=JobStatus.NEW)
        # g: reopened; its first completion met the resolve-by, the second came after it: met.
        g = await w.job(resolve_by=paris("2025-01-08", 18))
        await w.completion(g, paris("2025-01-08", 10), superseded_at=paris("2025-01-09"))
        await w.event(g, JobStatus.REOPENED, paris("2025-01-09"))
        await w.completion(g, paris("2025-01-10", 10))
        # h: respond-by at 23:30 UTC on the 5th, 00:30 on the 6th in Paris: in, missed.
        await w.job(respond_by=utc("2025-01-05", 23, 30), status=JobStatus.NEW)
        # i: 23:30 on the 5th in Paris: out.
        await w.job(respond_by=paris("2025-01-05", 23, 30), status=JobStatus.NEW)
        # j (New York): respond-by 22:00 on the 11th there (the 12th in UTC): in, met by an appointment.
        j = await w.job("ny", respond_by=new_york("2025-01-11", 22), status=JobStatus.SCHEDULED)
        await w.appointment(
            j, new_york("2025-01-13", 9), new_york("2025-01-13", 11), created_at=new_york("2025-01-11", 21)
        )
        # k (New York): respond-by 20:00 on the 5th there (the 6th in UTC): out.
        await w.job("ny", respond_by=new_york("2025-01-05", 20), status=JobStatus.NEW)
    found = await report(sessionmaker, "2025-01-06", "2025-01-12", now=now)

    # Respond-by: a, c, j met; b, d, h missed. Resolve-by: a, b, g met; d missed.
    sla = kpi(found, "sla_compliance")
    assert sla.value == (3 + 3) / (6 + 4)
    assert sla.sample == 6 + 4
    assert sla.met is False
    by_code = {g.code: g.values for g in found.territories}
    assert by_code["paris"]["sla_compliance"] == (2 + 3) / (5 + 4)
    assert by_code["new-york"]["sla_compliance"] == 1 / 1

    # A week later c's resolve-by and f's respond-by have passed unmet: two more deadlines, none met.
    later = await report(sessionmaker, "2025-01-06", "2025-01-12", now=paris("2025-01-20"))
    assert value(later, "sla_compliance") == (3 + 3) / (6 + 4 + 2)


# First-time fix and reopen rate ---------------------------------------------------------------------------------------


async def _first_fix_scenario(w: KpiWorld) -> None:
    async with w.rows():
        # a: fixed, nothing after.
        a = await w.job()
        await w.completion(a, paris("2025-01-07", 10))
        # b: fixed, reopened, completed, reopened again, completed: not fixed; reopened once; three visits.
        b = await w.job()
        await w.completion(b, paris("2025-01-08", 10), superseded_at=paris("2025-01-09", 9))
        await w.event(b, JobStatus.REOPENED, paris("2025-01-09", 9))
        await w.completion(b, paris("2025-01-09", 15), superseded_at=paris("2025-01-10", 9))
        await w.event(b, JobStatus.REOPENED, paris("2025-01-10", 9))
        await w.completion(b, paris("2025-01-10", 15))
        # c: needs a follow-up, which is done in the period: c is not fixed, c2 is not a first visit.
        c = await w.job()
        await w.completion(c, paris("2025-01-08", 14), outcome=CompletionOutcome.FOLLOW_UP)
        c2 = await w.job(origin=c, created_at=paris("2025-01-08", 14, 5))
        await w.completion(c2, paris("2025-01-11", 10))
        # d: fixed; a follow-up 40 days later is outside the 30-day window.
        d = await w.job()
        await w.completion(d, paris("2025-01-09", 10))
        await w.job(
            origin=d, created_at=paris("2025-01-09", 10) + dt.timedelta(days=40), status=JobStatus.NEW
        )
        # e: fixed; a follow-up 10 days later (after the period, inside the window): not fixed.
        e = await w.job()
        await w.completion(e, paris("2025-01-09", 12))
        await w.job(origin=e, created_at=paris("2025-01-19", 12), status=JobStatus.NEW)
        # f: completed at 23:30 UTC on the 12th, the 13th in Paris: out.
        f = await w.job()
        await w.completion(f, utc("2025-01-12", 23, 30))
        # g: first completed before the period, reopened, completed again in it: a visit, not a first visit.
        g = await w.job()
        await w.completion(g, paris("2025-01-03", 10), superseded_at=paris("2025-01-05"))
        await w.event(g, JobStatus.REOPENED, paris("2025-01-05"))
        await w.completion(g, paris("2025-01-08", 16))
        # h: fixed; reopened 35 days later: still a first-time fix (outside the window), but reopened.
        h = await w.job()
        await w.completion(h, paris("2025-01-10", 10))
        await w.event(h, JobStatus.REOPENED, paris("2025-02-14", 10))
        # i: fixed; a follow-up exactly 30 days later is within the window: not fixed.
        i = await w.job()
        await w.completion(i, paris("2025-01-11", 10))
        await w.job(
            origin=i, created_at=paris("2025-01-11", 10) + dt.timedelta(days=30), status=JobStatus.NEW
        )


async def test_first_time_fix_and_reopen_rate(
    w: KpiWorld, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await _first_fix_scenario(w)
    found = await report(sessionmaker, "2025-01-06", "2025-01-12")

    # First visits first completed in the period: a, b, c, d, e, h, i; fixed: a, d, h.
    assert value(found, "first_time_fix") == 3 / 7
    assert kpi(found, "first_time_fix").sample == 7
    # Jobs first completed in the period: a, b, c, c2, d, e, h, i; reopened afterwards: b (twice, once), h.
    assert value(found, "reopen_rate") == 2 / 8
    assert kpi(found, "reopen_rate").sample == 8
    # Visits: a, b x 3, c, c2, d, e, g's second, h, i (f is on the 13th).
    assert kpi(found, "complaint_rate").sample == 1 + 3 + 1 + 1 + 1 + 1 + 1 + 1 + 1
    assert found.first_fix_window_days == 30


async def test_the_first_fix_window_comes_from_the_settings(
    w: KpiWorld, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await _first_fix_scenario(w)
    # 7 days: e's follow-up (10 days) and i's (30 days) fall outside: a, d, e, h, i fixed.
    week = await report(sessionmaker, "2025-01-06", "2025-01-12", settings={"first_fix_window_days": 7})
    assert week.first_fix_window_days == 7
    assert value(week, "first_time_fix") == 5 / 7
    # 45 days: d's follow-up (40 days) and h's reopening (35 days) fall inside: only a fixed.
    long = await report(sessionmaker, "2025-01-06", "2025-01-12", settings={"first_fix_window_days": 45})
    assert value(long, "first_time_fix") == 1 / 7
    # The reopen rate has no window.
    assert value(week, "reopen_rate") == value(long, "reopen_rate") == 2 / 8


# On-time arrival ------------------------------------------------------------------------------------------------------


async def test_on_time_arrival_inside_the_confirmed_window(
    w: KpiWorld, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with w.rows():

        async def visit(
            arrival: dt.datetime,
            *,
            reported_at: dt.datetime | None = None,
            territory: str = "paris",
            window: tuple[dt.datetime, dt.datetime] = (paris("2025-01-08", 9), paris("2025-01-08", 12)),
            status: AppointmentStatus | None = AppointmentStatus.CONFIRMED,
        ) -> uuid.UUID:
            job = await w.job(territory)
            if status is not None:
                await w.appointment(job, *window, status=status)
            await w.event(job, JobStatus.ON_SITE, arrival, reported_at=reported_at)
            return job

        await visit(paris("2025-01-08", 10))  # on time
        await visit(paris("2025-01-08", 12))  # at the window's end: on time
        await visit(paris("2025-01-08", 12, 1))  # late
        await visit(
            paris("2025-01-08", 12, 30), reported_at=paris("2025-01-08", 11, 50)
        )  # device clock: on time
        await visit(paris("2025-01-08", 8, 30))  # early: not on time
        await visit(paris("2025-01-08", 10), status=AppointmentStatus.OFFERED)  # never confirmed: not counted
        await visit(paris("2025-01-08", 10), status=None)  # no appointment: not counted
        # Arrived on time, then again (a second on-site move) after the window: the first arrival counts.
        twice = await visit(paris("2025-01-08", 10))
        await w.event(twice, JobStatus.ON_SITE, paris("2025-01-08", 14))
        # New York, 20:00 on the 12th there (01:00 UTC on the 13th): in, on time.
        await visit(
            new_york("2025-01-12", 20),
            territory="ny",
            window=(new_york("2025-01-12", 18), new_york("2025-01-12", 21)),
        )
        # 23:30 UTC on the 12th: the 13th in Paris, out.
        await visit(utc("2025-01-12", 23, 30), window=(paris("2025-01-13", 0), paris("2025-01-13", 2)))
    found = await report(sessionmaker, "2025-01-06", "2025-01-12")

    arrival = kpi(found, "on_time_arrival")
    # Counted: 10:00, 12:00, 12:01, 11:50 (device), 08:30, the twice-arrived job, New York; on time: 5 of them.
    assert arrival.sample == 7
    assert arrival.value == 5 / 7
    assert arrival.met is False  # 0.71 < 0.90


async def test_an_arrival_before_the_period_stays_the_jobs_first_whatever_the_trend_length(
    w: KpiWorld, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """A job first reached on the 20th of December and reached again on the 8th of January: its (first) arrival is
    in December, so January has none, whether the report's trend reaches back to December or not."""
    async with w.rows():
        job = await w.job()
        await w.appointment(job, paris("2024-12-20", 9), paris("2024-12-20", 12))
        await w.event(job, JobStatus.ON_SITE, paris("2024-12-20", 10))
        await w.event(job, JobStatus.REOPENED, paris("2024-12-23", 10))
        await w.event(job, JobStatus.ON_SITE, paris("2025-01-08", 15))
    for weeks in (1, 8):
        found = await report(sessionmaker, "2025-01-06", "2025-01-12", weeks=weeks)
        assert kpi(found, "on_time_arrival").sample == 0, weeks
    december = await report(sessionmaker, "2024-12-16", "2024-12-22")
    assert value(december, "on_time_arrival") == 1 / 1


async def test_a_reopened_jobs_first_arrival_keeps_the_window_it_was_promised(
    w: KpiWorld, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with w.rows():
        job = await w.job()
        # As api.planning.slots.book_for leaves it: the first booking rescheduled by the second.
        await w.appointment(
            job, paris("2025-01-08", 9), paris("2025-01-08", 12), status=AppointmentStatus.RESCHEDULED
        )
        await w.event(job, JobStatus.ON_SITE, paris("2025-01-08", 10))
        await w.event(job, JobStatus.REOPENED, paris("2025-01-09", 10))
        await w.appointment(job, paris("2025-01-15", 14), paris("2025-01-15", 16))
    found = await report(sessionmaker, "2025-01-06", "2025-01-12")
    assert value(found, "on_time_arrival") == 1 / 1


# Visits: utilization, travel, complaint rate, cost ratio --------------------------------------------------------------


async def test_shift_time_counts_only_what_has_been_worked_so_far(
    w: KpiWorld, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Asked at 12:00 Paris on the 8th: the morning's shift counts up to now, tomorrow's not at all."""
    now = paris("2025-01-08", 12)
    async with w.rows():
        await w.shift(
            "tech_p", paris("2025-01-07", 8), paris("2025-01-07", 17), 1800
        )  # done: 9 h less 30 min
        await w.shift(
            "tech_p", paris("2025-01-08", 8), paris("2025-01-08", 17), 1800
        )  # 4 h so far, break not yet
        await w.shift("tech_p", paris("2025-01-09", 8), paris("2025-01-09", 17), 1800)  # tomorrow's: nothing
        job = await w.job(technician="tech_p")
        await w.completion(
            job,
            paris("2025-01-08", 11),
            arrived_at=paris("2025-01-08", 9),
            on_site_s=2 * H,
            technician="tech_p",
        )
    found = await report(sessionmaker, "2025-01-06", "2025-01-12", now=now)
    worked = 2 * H  # the visit from 9:00 to 11:00
    assert value(found, "utilization") == close(worked / ((9 * H - 1800) + 4 * H))


async def _visits_scenario(w: KpiWorld) -> None:
    """Five visits in the week (one running past midnight, one in New York), one the Monday after."""
    async with w.rows():
        # Shifts: 9 h less two 30-min breaks; 16:00 to 01:00 less a 30-min break; 9 h in New York.
        await w.shift("tech_p", paris("2025-01-08", 8), paris("2025-01-08", 17), 1800, 1800)
        await w.shift("tech_p2", paris("2025-01-12", 16), paris("2025-01-13", 1), 1800)
        await w.shift("tech_ny", new_york("2025-01-12", 13), new_york("2025-01-12", 22))
        # Starts at 23:30 UTC on the 12th, 00:30 on the 13th in Paris: the next week's.
        await w.shift("tech_p", utc("2025-01-12", 23, 30), utc("2025-01-13", 7, 30))

        a = await w.job(value_cents=20000, technician="tech_p")
        await w.completion(
            a,
            paris("2025-01-08", 10),
            arrived_at=paris("2025-01-08", 9),
            technician="tech_p",
            on_site_s=3600,
            travel_s=1200,
            travel_m=15000,
        )
        b = await w.job(service_type="fault", technician="tech_p")  # no value
        await w.completion(
            b,
            paris("2025-01-08", 12, 30),
            arrived_at=paris("2025-01-08", 11),
            technician="tech_p",
            on_site_s=5400,
            travel_s=600,
            travel_m=5000,
        )
        # Sunday 23:30 to Monday 00:40: the visit is Sunday's, with its shift; the completion is Monday's.
        c = await w.job(value_cents=30000, technician="tech_p2")
        await w.completion(
            c,
            paris("2025-01-13", 0, 40),
            arrived_at=paris("2025-01-12", 23, 30),
            technician="tech_p2",
            on_site_s=4200,
            travel_s=1800,
            travel_m=20000,
        )
        # New York, 20:00 to 21:00 on the 12th there (the 13th in UTC); travel unknown.
        d = await w.job("ny", value_cents=10000, technician="tech_ny")
        await w.completion(
            d,
            new_york("2025-01-12", 21),
            arrived_at=new_york("2025-01-12", 20),
            technician="tech_ny",
            on_site_s=3600,
        )
        # No arrival recorded: the device's completion time (the 10th) counts, not the late sync (the 13th).
        e = await w.job(service_type="fault", value_cents=5000, technician="tech_p")
        await w.completion(
            e,
            paris("2025-01-13", 9),
            reported_at=paris("2025-01-10", 10),
            technician="tech_p",
            on_site_s=1800,
            travel_s=900,
            travel_m=8000,
        )
        f = await w.job(value_cents=7000, technician="tech_p")
        await w.completion(
            f,
            paris("2025-01-13", 9),
            arrived_at=paris("2025-01-13", 8),
            technician="tech_p",
            on_site_s=3600,
            travel_s=100,
            travel_m=1000,
        )

        await w.complaint(paris("2025-01-09"), job=a)
        await w.complaint(new_york("2025-01-12", 22), territory="ny", job=d)  # the 13th in UTC: in
        await w.complaint(utc("2025-01-12", 23, 30), job=f)  # the 13th in Paris: out


async def test_visit_kpis_over_a_week(w: KpiWorld, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    await _visits_scenario(w)
    found = await report(sessionmaker, "2025-01-06", "2025-01-12")

    # Visits a, b, c, d, e; shifts of tech_p (the 8th), tech_p2 (the 12th) and tech_ny.
    utilization = kpi(found, "utilization")
    assert utilization.sample == 5
    assert utilization.detail["on_site_s"] == 3600 + 5400 + 4200 + 3600 + 1800
    assert utilization.value == close(
        (3600 + 5400 + 4200 + 3600 + 1800) / ((9 * H - 2 * 1800) + (9 * H - 1800) + 9 * H)
    )
    # Travel time is known for 4 visits (d's is not); the distance is averaged over all 5.
    travel = kpi(found, "travel_per_job")
    assert travel.sample == 4
    assert travel.value == (1200 + 600 + 1800 + 900) / 4
    # Over the four visits whose distance is known, like the time: the fifth has neither.
    assert travel.detail["metres_per_job"] == (15000 + 5000 + 20000 + 8000) / 4
    # Complaints received: a's (Paris, the 9th) and d's (New York, the 12th there).
    assert value(found, "complaint_rate") == 2 / 5
    assert kpi(found, "complaint_rate").detail["complaints"] == 2
    # Cost at 60.00/h and 0.50/km of the visits to jobs with a value (a, c, d, e), over the value of the jobs
    # first completed in the week (a, d, e: c was completed on Monday the 13th, b has no value).
    cost = kpi(found, "cost_ratio")
    valued_cost = (3600 + 4200 + 3600 + 1800) / 3600 * 6000 + (15000 + 20000 + 8000) / 1000 * 50
    assert cost.value == close(valued_cost / (20000 + 10000 + 5000))
    assert cost.detail["value_cents"] == 20000 + 10000 + 5000
    all_cost = (3600 + 5400 + 4200 + 3600 + 1800) / 3600 * 6000 + (15000 + 5000 + 20000 + 8000) / 1000 * 50
    assert cost.detail["cost_per_job_cents"] == close(all_cost / 5)
    assert found.labour_rate_cents_per_hour == 6000
    assert found.travel_rate_cents_per_km == 50

    by_code = {g.code: g.values for g in found.territories}
    assert by_code["paris"]["utilization"] == close(
        (3600 + 5400 + 4200 + 1800) / ((9 * H - 3600) + (9 * H - 1800))
    )
    assert by_code["new-york"]["utilization"] == close(3600 / (9 * H))
    assert by_code["paris"]["complaint_rate"] == 1 / 4
    assert by_code["new-york"]["complaint_rate"] == 1 / 1
    # Shift time has no service type: no utilization by service type.
    by_type = {g.code: g.values for g in found.service_types}
    assert by_type["leak"]["utilization"] is None
    assert by_type["leak"]["travel_per_job"] == (1200 + 1800) / 2  # a and c (d's travel unknown)
    assert by_type["fault"]["complaint_rate"] == 0 / 2  # b and e


async def test_a_visit_past_midnight_stays_with_the_day_it_began(
    w: KpiWorld, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await _visits_scenario(w)
    sunday = await report(sessionmaker, "2025-01-12", "2025-01-12")
    # c (23:30 to 00:40) with tech_p2's shift begun that afternoon; d with tech_ny's shift.
    assert kpi(sunday, "utilization").sample == 2
    assert value(sunday, "utilization") == close((4200 + 3600) / ((9 * H - 1800) + 9 * H))

    monday = await report(sessionmaker, "2025-01-13", "2025-01-13")
    # Only f and the shift begun at 00:30; c's visit is not here again.
    assert kpi(monday, "utilization").sample == 1
    assert value(monday, "utilization") == close(3600 / (8 * H))
    # c's completion is Monday's, though: its value is in Monday's cost ratio while its cost was Sunday's.
    f_cost = 3600 / 3600 * 6000 + 1000 / 1000 * 50
    assert value(monday, "cost_ratio") == close(f_cost / (30000 + 7000))
    assert kpi(monday, "first_time_fix").sample == 2  # c and f


async def test_the_rates_in_the_settings_price_the_visits(
    w: KpiWorld, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await _visits_scenario(w)
    found = await report(
        sessionmaker,
        "2025-01-06",
        "2025-01-12",
        settings={"labour_rate_cents_per_hour": 9000, "travel_rate_cents_per_km": 100},
    )
    valued_cost = (3600 + 4200 + 3600 + 1800) / 3600 * 9000 + (15000 + 20000 + 8000) / 1000 * 100
    assert value(found, "cost_ratio") == close(valued_cost / (20000 + 10000 + 5000))
    all_cost = (3600 + 5400 + 4200 + 3600 + 1800) / 3600 * 9000 + (15000 + 5000 + 20000 + 8000) / 1000 * 100
    assert kpi(found, "cost_ratio").detail["cost_per_job_cents"] == close(all_cost / 5)
    assert (found.labour_rate_cents_per_hour, found.travel_rate_cents_per_km) == (9000, 100)


# Complaint resolution -------------------------------------------------------------------------------------------------


async def test_complaint_resolution_time_of_complaints_resolved_in_the_period(
    w: KpiWorld, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with w.rows():
        await w.complaint(
            paris("2025-01-02", 10), resolved_at=paris("2025-01-07", 10)
        )  # 5 days; received before
        await w.complaint(paris("2025-01-08", 10), resolved_at=paris("2025-01-08", 16))  # 6 hours
        await w.complaint(paris("2025-01-09", 10))  # open: not counted
        await w.complaint(
            paris("2025-01-12", 10), resolved_at=utc("2025-01-12", 23, 30)
        )  # the 13th in Paris: out
        # New York: 9:00 on the 10th to 21:00 on the 12th there (02:00 UTC on the 13th): in, 2.5 days.
        await w.complaint(new_york("2025-01-10", 9), territory="ny", resolved_at=new_york("2025-01-12", 21))
    found = await report(sessionmaker, "2025-01-06", "2025-01-12")

    resolution = kpi(found, "complaint_resolution")
    assert resolution.sample == 3
    assert resolution.value == close((5 * DAY + 6 * H + (2 * DAY + 12 * H)) / 3)
    assert resolution.met is True  # 2.6 days <= 3 days
    # Received in the period: the 8th's, the 9th's, the 12th's, New York's; no visits, so no rate.
    assert kpi(found, "complaint_rate").detail["complaints"] == 4
    assert value(found, "complaint_rate") is None


# Weekly trend ---------------------------------------------------------------------------------------------------------


async def test_the_trend_puts_each_value_in_its_local_week(
    w: KpiWorld, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with w.rows():
        for territory, score, at in (
            ("paris", 1, paris("2025-01-07")),  # week of the 6th, before the period
            ("paris", 5, paris("2025-01-12", 23, 30)),  # Sunday night: week of the 6th
            ("paris", 1, utc("2025-01-12", 23, 30)),  # Monday 00:30 in Paris: week of the 13th
            ("ny", 2, new_york("2025-01-19", 22)),  # Sunday in New York (Monday in UTC): week of the 13th
            ("paris", 5, paris("2025-01-21")),  # week of the 20th
            ("paris", 4, paris("2025-01-24")),  # week of the 20th, after the period ends (Wednesday the 22nd)
        ):
            await w.rating(await w.job(territory), score, at, territory)
    found = await report(sessionmaker, "2025-01-08", "2025-01-22", weeks=4)

    assert found.weeks == [
        dt.date(2024, 12, 30),
        dt.date(2025, 1, 6),
        dt.date(2025, 1, 13),
        dt.date(2025, 1, 20),
    ]
    satisfaction = kpi(found, "satisfaction")
    assert satisfaction.trend == [None, 1 / 2, 0 / 2, 2 / 2]
    assert kpi(found, "satisfaction_mean").trend == [None, (1 + 5) / 2, (1 + 2) / 2, (5 + 4) / 2]
    # The period (Wednesday the 8th to Wednesday the 22nd): 5, 1, 2, 5.
    assert satisfaction.value == 2 / 4
    assert satisfaction.sample == 4


# Breakdown, filters, scoping ------------------------------------------------------------------------------------------


async def test_territories_and_service_types_worst_first(
    w: KpiWorld, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with w.rows():
        for territory, service_type, score in (
            ("paris", "leak", 2),
            ("paris", "leak", 2),
            ("paris", None, 5),  # not triaged: "Unclassified"
            ("ny", "fault", 5),
            ("ny", "fault", 5),
            ("ny", "fault", 5),
        ):
            await w.rating(await w.job(territory, service_type), score, paris("2025-01-08"), territory)
    found = await report(sessionmaker, "2025-01-06", "2025-01-12")

    # Paris: 1 of 3 satisfied, mean 3: both targets missed. New York: all 5s. Worst first, though smaller.
    assert [(g.code, g.missed, g.sample) for g in found.territories] == [
        ("paris", ["satisfaction", "satisfaction_mean"], 3),
        ("new-york", [], 3),
    ]
    assert found.territories[0].values["satisfaction"] == 1 / 3
    # Leak misses both (two 2s); fault and unclassified miss none: the bigger first.
    assert [(g.code, g.name, g.id, g.missed) for g in found.service_types] == [
        ("leak", "Water leak", w.service_types["leak"], ["satisfaction", "satisfaction_mean"]),
        ("fault", "Electrical fault", w.service_types["fault"], []),
        ("-", "Unclassified", None, []),
    ]


async def test_a_territory_that_only_missed_deadlines_is_in_the_breakdown(
    w: KpiWorld, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with w.rows():
        await w.rating(await w.job(), 5, paris("2025-01-08"))
        await w.job("ny", respond_by=new_york("2025-01-08"), status=JobStatus.NEW)  # never answered
    found = await report(sessionmaker, "2025-01-06", "2025-01-12")

    assert [(g.code, g.missed) for g in found.territories] == [
        ("new-york", ["sla_compliance"]),
        ("paris", []),
    ]
    assert found.territories[0].values["sla_compliance"] == 0 / 1


async def test_filters_and_a_dispatchers_scope(
    w: KpiWorld, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await _visits_scenario(w)
    async with w.rows():
        await w.rating(await w.job("ny", technician="tech_ny"), 5, paris("2025-01-08"), "ny")
        await w.rating(await w.job(technician="tech_p2"), 1, paris("2025-01-08"))

    # A Paris dispatcher sees Paris: a, b, c, e; tech_p's and tech_p2's shifts; a's complaint; the 1.
    north = await report(sessionmaker, "2025-01-06", "2025-01-12", principal=w.dispatchers["paris"])
    assert kpi(north, "utilization").sample == 4
    assert value(north, "utilization") == close(
        (3600 + 5400 + 4200 + 1800) / ((9 * H - 3600) + (9 * H - 1800))
    )
    assert value(north, "complaint_rate") == 1 / 4
    assert value(north, "satisfaction") == 0 / 1
    assert [g.code for g in north.territories] == ["paris"]
    # The admin filtering on New York sees what New York's dispatcher sees.
    ny = await report(sessionmaker, "2025-01-06", "2025-01-12", territory_id=w.territories["ny"])
    ny_own = await report(sessionmaker, "2025-01-06", "2025-01-12", principal=w.dispatchers["ny"])
    for found in (ny, ny_own):
        assert value(found, "utilization") == close(3600 / (9 * H))
        assert value(found, "complaint_rate") == 1 / 1
        assert value(found, "satisfaction") == 1 / 1
    assert ny.filters["territory_id"] == w.territories["ny"]

    # A service type: its jobs' visits and complaints (a, c, d; a's and d's complaints); no utilization.
    leak = await report(sessionmaker, "2025-01-06", "2025-01-12", service_type_id=w.service_types["leak"])
    assert kpi(leak, "complaint_rate").sample == 3
    assert value(leak, "complaint_rate") == 2 / 3
    assert value(leak, "utilization") is None
    assert value(leak, "travel_per_job") == (1200 + 1800) / 2

    # A technician: their visits (a, b, e), their shift, the complaint about their job (a), their jobs' ratings.
    tech = await report(sessionmaker, "2025-01-06", "2025-01-12", technician_id=w.technicians["tech_p"])
    assert value(tech, "utilization") == close((3600 + 5400 + 1800) / (9 * H - 3600))
    assert value(tech, "complaint_rate") == 1 / 3
    assert value(tech, "satisfaction") is None
    tech2 = await report(sessionmaker, "2025-01-06", "2025-01-12", technician_id=w.technicians["tech_p2"])
    assert value(tech2, "satisfaction") == 0 / 1
    assert value(tech2, "utilization") == close(4200 / (9 * H - 1800))


async def test_what_the_asker_cannot_see_or_a_bad_period_is_refused(
    w: KpiWorld, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    paris_dispatcher = w.dispatchers["paris"]
    cases: list[tuple[dict[str, Any], type[Exception]]] = [
        ({"territory_id": w.territories["ny"]}, NotFound),
        ({"technician_id": w.technicians["tech_ny"]}, NotFound),
        ({"territory_id": uuid.uuid4()}, NotFound),
        ({"technician_id": uuid.uuid4()}, NotFound),
        ({"service_type_id": uuid.uuid4()}, NotFound),
    ]
    for filters, error in cases:
        with pytest.raises(error):
            await report(sessionmaker, "2025-01-06", "2025-01-12", principal=paris_dispatcher, **filters)
    # The admin may ask about New York; a dispatcher their own technician.
    await report(sessionmaker, "2025-01-06", "2025-01-12", territory_id=w.territories["ny"])
    await report(
        sessionmaker,
        "2025-01-06",
        "2025-01-12",
        principal=paris_dispatcher,
        technician_id=w.technicians["tech_p"],
    )
    for start, end, weeks in (
        ("2025-01-12", "2025-01-06", 1),  # ends before it starts
        ("2023-01-01", "2025-01-02", 1),  # over two years
        ("2025-01-06", "2025-01-12", 0),
        ("2025-01-06", "2025-01-12", 53),
    ):
        with pytest.raises(InvalidInput):
            await report(sessionmaker, start, end, weeks=weeks)
    one_day = await report(sessionmaker, "2025-01-06", "2025-01-06")
    assert (one_day.start, one_day.end) == (dt.date(2025, 1, 6), dt.date(2025, 1, 6))


async def test_without_dates_the_period_is_the_28_days_to_today_where_the_asker_works(
    w: KpiWorld, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    now = utc("2025-01-12", 23, 30)  # Monday 00:30 in Paris, still Sunday 18:30 in New York
    async with w.rows():
        await w.rating(await w.job(), 5, utc("2025-01-12", 23, 15))  # Monday 00:15 in Paris
    async with sessionmaker() as s:
        admin = await kpi_report(s, ADMIN, KpiQuery(weeks=1), now=now)
        ny = await kpi_report(s, w.dispatchers["ny"], KpiQuery(weeks=1), now=now)
        paris_only = await kpi_report(s, w.dispatchers["paris"], KpiQuery(weeks=1), now=now)
    # Every territory for the admin: the latest local date, Monday in Paris; 28 days back to the 17th of December.
    assert (admin.start, admin.end) == (
        dt.date(2025, 1, 13) - dt.timedelta(days=28 - 1),
        dt.date(2025, 1, 13),
    )
    assert value(admin, "satisfaction") == 1 / 1
    assert (paris_only.start, paris_only.end) == (admin.start, admin.end)
    assert (ny.start, ny.end) == (dt.date(2025, 1, 12) - dt.timedelta(days=28 - 1), dt.date(2025, 1, 12))


# Settings -------------------------------------------------------------------------------------------------------------


async def test_targets_from_the_settings_decide_what_is_met(
    w: KpiWorld, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with w.rows():
        for score in (5, 4, 3, 1):
            await w.rating(await w.job(), score, paris("2025-01-08"))
    query = ("2025-01-06", "2025-01-12")
    default = await report(sessionmaker, *query)
    assert (kpi(default, "satisfaction").target, kpi(default, "satisfaction").met) == (0.95, False)
    assert [g.missed for g in default.territories] == [["satisfaction", "satisfaction_mean"]]

    async with sessionmaker() as s:
        await kpi_settings.update(s, {"targets": {"satisfaction": 0.5, "satisfaction_mean": 3.25}})
        await s.commit()
    chosen = await report(sessionmaker, *query)
    assert value(chosen, "satisfaction") == 2 / 4  # the value does not move; the verdict does
    assert (kpi(chosen, "satisfaction").target, kpi(chosen, "satisfaction").met) == (0.5, True)
    # Mean (5 + 4 + 3 + 1) / 4 = 3.25: a target of 3.25 is met (higher is better, at the target counts).
    assert (kpi(chosen, "satisfaction_mean").target, kpi(chosen, "satisfaction_mean").met) == (3.25, True)
    assert [g.missed for g in chosen.territories] == [[]]
    # Every other KPI keeps its default.
    defaults = {d.key: d.target for d in DEFINITIONS}
    assert {k.key: k.target for k in chosen.kpis} == defaults | {
        "satisfaction": 0.5,
        "satisfaction_mean": 3.25,
    }

    async with sessionmaker() as s:
        await kpi_settings.update(s, {"targets": {"satisfaction": None}})  # back to the default
        await s.commit()
    back = await report(sessionmaker, *query)
    assert (kpi(back, "satisfaction").target, kpi(back, "satisfaction").met) == (0.95, False)
    assert kpi(back, "satisfaction_mean").target == 3.25


# Adding up ------------------------------------------------------------------------------------------------------------

# Kinds of events the property test scatters over three weeks (and a day either side) in both zones.
_EVENT = st.tuples(
    st.sampled_from(["rating", "visit", "complaint", "shift"]),
    st.sampled_from(["paris", "ny"]),
    st.integers(min_value=0, max_value=23 * 24 * 60 - 1),  # minutes from 00:00 UTC on the 5th of January
    st.integers(min_value=1, max_value=5),
)
_ORIGIN = utc("2025-01-05")
_WEEKS = [dt.date(2025, 1, 6), dt.date(2025, 1, 13), dt.date(2025, 1, 20)]
_ZONES = {"paris": PARIS, "ny": NEW_YORK}
_CLEARED = (
    *(m.Rating, m.Complaint, m.JobCompletion, m.Assignment, m.Job, m.ShiftBreak, m.Shift),
    *(m.Technician, m.Site, m.Customer, m.ServiceType, m.Territory),
)


def _same(a: float | None, b: float | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and a == pytest.approx(b))


def _counted(
    events: list[tuple[str, str, int, int]], first: dt.date, last: dt.date, territories: set[str]
) -> dict[str, int]:
    """What the report should count, by local date worked out here with zoneinfo: ratings (and good ones),
    visits (on their arrival's date), first completions 90 minutes later (and fixed ones), complaints."""
    found: Counter[str] = Counter()
    for kind, territory, minutes, score in events:
        at = _ORIGIN + dt.timedelta(minutes=minutes)
        if territory not in territories:
            continue
        for name, moment, counts in (
            ("ratings", at, kind == "rating"),
            ("good", at, kind == "rating" and score >= 4),
            ("visits", at, kind == "visit"),
            ("completed", at + dt.timedelta(minutes=90), kind == "visit"),
            ("fixed", at + dt.timedelta(minutes=90), kind == "visit" and score > 1),
            ("complaints", at, kind == "complaint"),
        ):
            if counts and first <= moment.astimezone(_ZONES[territory]).date() <= last:
                found[name] += 1
    return dict(found)


def _check_counts(found: KpiReport, expected: dict[str, int]) -> None:
    def ratio(name: str, of: str) -> float | None:
        return expected.get(name, 0) / expected[of] if expected.get(of) else None

    assert kpi(found, "satisfaction").sample == expected.get("ratings", 0)
    assert value(found, "satisfaction") == ratio("good", "ratings")
    assert kpi(found, "complaint_rate").sample == expected.get("visits", 0)
    assert kpi(found, "complaint_rate").detail["complaints"] == expected.get("complaints", 0)
    assert value(found, "complaint_rate") == ratio("complaints", "visits")
    assert kpi(found, "first_time_fix").sample == expected.get("completed", 0)
    assert value(found, "first_time_fix") == ratio("fixed", "completed")


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    events=st.lists(_EVENT, min_size=4, max_size=24),
    week=st.integers(min_value=0, max_value=2),
    territory=st.sampled_from(["paris", "ny"]),
)
def test_weeks_and_territories_add_up_to_the_period(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    events: list[tuple[str, str, int, int]],
    week: int,
    territory: str,
) -> None:
    """Over three weeks, one of those weeks and one territory: the counts are those of the events' local dates
    (so the weeks and the territories add up to the whole); each week of the trend is that week's own report;
    a territory's line in the breakdown is that territory's own report."""

    async def run() -> None:
        async with engine.begin() as conn:  # what the previous example left
            for model in _CLEARED:
                await conn.execute(sa.delete(model))
        world = KpiWorld(engine)
        async with world.rows():
            await world.base()
            for kind, where, minutes, score in events:
                at = _ORIGIN + dt.timedelta(minutes=minutes)
                if kind == "rating":
                    await world.rating(await world.job(where), score, at, where)
                elif kind == "visit":
                    job = await world.job(where, value_cents=score * 1000)
                    outcome = CompletionOutcome.FIXED if score > 1 else CompletionOutcome.FOLLOW_UP
                    await world.completion(
                        job,
                        at + dt.timedelta(minutes=90),
                        arrived_at=at,
                        outcome=outcome,
                        on_site_s=score * 600,
                        travel_s=score * 60,
                        travel_m=score * 1000,
                    )
                elif kind == "complaint":
                    await world.complaint(at, territory=where)
                else:
                    technician = "tech_ny" if where == "ny" else "tech_p"
                    await world.shift(technician, at, at + dt.timedelta(hours=8))

        monday = _WEEKS[week]
        sunday = monday + dt.timedelta(days=6)
        async with sessionmaker() as s:
            whole = await report(s, "2025-01-06", "2025-01-26", weeks=3)
            one_week = await report(s, str(monday), str(sunday))
            one_territory = await report(
                s, "2025-01-06", "2025-01-26", territory_id=world.territories[territory]
            )
        everywhere = {"paris", "ny"}
        _check_counts(whole, _counted(events, dt.date(2025, 1, 6), dt.date(2025, 1, 26), everywhere))
        _check_counts(one_week, _counted(events, monday, sunday, everywhere))
        _check_counts(one_territory, _counted(events, dt.date(2025, 1, 6), dt.date(2025, 1, 26), {territory}))
        assert all(_same(kpi(whole, k.key).trend[week], k.value) for k in one_week.kpis)
        line = next((g.values for g in whole.territories if g.id == world.territories[territory]), None)
        if line is not None:
            assert all(_same(line[k.key], k.value) for k in one_territory.kpis)

    asyncio.run(run())
