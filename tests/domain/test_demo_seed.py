"""`fieldwork seed` on an empty database gives a believable operation that every demo login can use at once, and
six weeks of finished work before it for the KPIs.

Seeding takes a few seconds, so it is done once for the module, in a database of its own (the shared test database
is emptied before every test).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import itertools
import os
import statistics
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession

from api import cli
from api.app import create_app
from api.planning.problem_from_db import territory_problem
from api.settings import Settings
from domain import demo_history, migrate
from domain import models as m
from domain.db import create_engine
from domain.demo import DEMO_PASSWORD, PRICES, PROBLEMS, SERVICE_TYPES, SKILLS, TIMEZONE
from domain.enums import AppointmentStatus, ComplaintStatus, CompletionOutcome, JobStatus
from domain.job_status import is_legal_history
from sync.tables import BY_NAME, in_scope
from tests.conftest import _postgres_database

PARIS = ZoneInfo(TIMEZONE)
OPEN = {"new", "scheduled", "dispatched", "en_route", "on_site", "in_progress", "on_hold", "reopened"}
FINISHED = (JobStatus.COMPLETED, JobStatus.CLOSED, JobStatus.CANCELLED)
T = TypeVar("T")


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = os.environ.get("FIELDWORK_TEST_DATABASE_URL")
    if not base:
        url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
        migrate.upgrade(url)
        yield url
        return
    databases = _postgres_database(base)
    url = next(databases)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        databases.close()


@pytest.fixture(scope="module")
def seeded(demo_url: str) -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", demo_url)
        before = dt.datetime.now(PARIS).date()
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = cli.main(["--database-url", demo_url, "seed"])
        after = dt.datetime.now(PARIS).date()
    assert code == 0
    if before != after:
        pytest.skip("the demo was seeded across midnight in Paris")
    # "demo data seeded: 3 territories, 25 technicians, ..."
    counts = {
        name: int(number)
        for number, name in (
            part.split(" ", 1) for part in out.getvalue().split(": ", 1)[1].strip().split(", ")
        )
    }
    return {"today": before, "url": demo_url, "counts": counts}


@pytest.fixture(scope="module")
def demo(seeded: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient[Any]]:
    settings = Settings(
        database_url=seeded["url"],
        data_dir=tmp_path_factory.mktemp("demo-data"),
        jwt_secret="demo-secret-" + "x" * 32,
        login_attempts_per_minute=1000,
    )
    app = create_app(settings, create_engine(seeded["url"], poolclass=sa.pool.NullPool))
    with TestClient(app=app, raise_server_exceptions=False) as client:
        yield client


_tokens: dict[tuple[int, str], dict[str, str]] = {}


def as_user(client: TestClient[Any], email: str) -> dict[str, str]:
    if (id(client), email) not in _tokens:
        response = client.post("/api/auth/token", json={"username": email, "password": DEMO_PASSWORD})
        assert response.status_code == 200, response.text
        _tokens[id(client), email] = {"Authorization": f"Bearer {response.json()['access_token']}"}
    return _tokens[id(client), email]


def all_jobs(client: TestClient[Any], email: str) -> list[dict[str, Any]]:
    """The open jobs the user sees (the history's finished work is listed apart)."""
    response = client.get(
        "/api/jobs", params={"limit": 200, "status": sorted(OPEN)}, headers=as_user(client, email)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] <= 200
    assert len(body["items"]) == body["total"]
    return body["items"]


@pytest.mark.parametrize(
    ("email", "role"),
    [
        ("admin@example.com", "admin"),
        ("dispatcher@example.com", "dispatcher"),
        ("tech01@example.com", "technician"),
    ],
)
def test_every_demo_login_works_with_the_demo_password(demo: TestClient[Any], email: str, role: str) -> None:
    me = demo.get("/api/me", headers=as_user(demo, email))
    assert me.status_code == 200
    assert (me.json()["email"], me.json()["role"]) == (email, role)


def test_a_wrong_password_is_refused(demo: TestClient[Any]) -> None:
    wrong = demo.post(
        "/api/auth/token", json={"username": "admin@example.com", "password": DEMO_PASSWORD + "!"}
    )
    assert wrong.status_code == 401


def test_three_territories_about_25_technicians_and_60_customers(demo: TestClient[Any]) -> None:
    admin = as_user(demo, "admin@example.com")
    territories = demo.get("/api/territories", headers=admin).json()
    assert len(territories) == 3
    technicians = demo.get("/api/technicians", params={"limit": 200}, headers=admin).json()
    assert 20 <= technicians["total"] <= 30
    assert {t["territory_id"] for t in technicians["items"]} == {t["id"] for t in territories}
    assert all(t["skills"] for t in technicians["items"])
    customers = demo.get("/api/customers", params={"limit": 1}, headers=admin).json()
    assert 50 <= customers["total"] <= 70


def test_about_150_open_jobs_over_today_and_tomorrow_some_assigned(
    demo: TestClient[Any], seeded: dict[str, Any]
) -> None:
    jobs = all_jobs(demo, "admin@example.com")
    assert 120 <= len(jobs) <= 180
    assert {j["status"] for j in jobs} <= OPEN
    today = seeded["today"]
    days = {
        dt.datetime.fromisoformat(w["starts_at"]).astimezone(PARIS).date()
        for j in jobs
        for w in j["time_windows"]
    }
    assert days == {today, today + dt.timedelta(days=1)}
    assert all(j["time_windows"] for j in jobs)
    assigned = [j for j in jobs if j["assignment"] is not None]
    assert 0 < len(assigned) < len(jobs)
    for job in jobs:
        if job["status"] in {"scheduled", "dispatched", "en_route", "on_site", "in_progress"}:
            assert job["assignment"] is not None, job
        else:
            assert job["assignment"] is None, job
    assert any(j["service_type_id"] is None for j in jobs), "some requests still wait for triage"
    assert all(j["respond_by"] <= j["resolve_by"] for j in jobs)


def test_jobs_can_be_listed_by_day(demo: TestClient[Any], seeded: dict[str, Any]) -> None:
    admin = as_user(demo, "admin@example.com")
    total = len(all_jobs(demo, "admin@example.com"))
    per_day = [
        demo.get(
            "/api/jobs",
            params={"date": str(seeded["today"] + dt.timedelta(days=d)), "limit": 1},
            headers=admin,
        ).json()["total"]
        for d in (0, 1)
    ]
    assert all(n > 0 for n in per_day)
    assert sum(per_day) == total


def test_tech01_sees_only_their_own_jobs(demo: TestClient[Any]) -> None:
    me = demo.get("/api/me", headers=as_user(demo, "tech01@example.com")).json()
    theirs = all_jobs(demo, "tech01@example.com")
    assert theirs, "the demo gives tech01 some work"
    assert all(j["assignment"]["technician_id"] == me["technician_id"] for j in theirs)
    everyone = all_jobs(demo, "admin@example.com")
    assigned_to_them = {
        j["id"]
        for j in everyone
        if j["assignment"] and j["assignment"]["technician_id"] == me["technician_id"]
    }
    assert {j["id"] for j in theirs} == assigned_to_them
    other = next(j for j in everyone if j["id"] not in assigned_to_them)
    assert (
        demo.get(f"/api/jobs/{other['id']}", headers=as_user(demo, "tech01@example.com")).status_code == 404
    )


def test_the_main_dispatcher_sees_every_territory_and_a_local_one_only_theirs(demo: TestClient[Any]) -> None:
    everyone = all_jobs(demo, "admin@example.com")
    assert {j["id"] for j in all_jobs(demo, "dispatcher@example.com")} == {j["id"] for j in everyone}
    north = all_jobs(demo, "dispatcher-north@example.com")
    territories = demo.get("/api/territories", headers=as_user(demo, "admin@example.com")).json()
    north_id = next(t["id"] for t in territories if t["code"] == "lyon-north")
    assert north
    assert {j["id"] for j in north} == {j["id"] for j in everyone if j["territory_id"] == north_id}


def test_the_seeded_audit_chain_verifies(seeded: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    url = seeded["url"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", url)
        code = cli.main(["--database-url", url, "audit", "verify"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "intact" in out.out


def test_seeding_again_is_refused_or_skipped_without_duplicating(
    demo: TestClient[Any], seeded: dict[str, Any]
) -> None:
    before = len(all_jobs(demo, "admin@example.com"))
    url = seeded["url"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", url)
        assert cli.main(["--database-url", url, "seed"]) == 1
        assert cli.main(["--database-url", url, "seed", "--if-empty"]) == 0
    assert len(all_jobs(demo, "admin@example.com")) == before


# The history -------------------------------------------------------------------------------------------------------


def read(seeded: dict[str, Any], query: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def run() -> T:
        engine = create_engine(seeded["url"], poolclass=sa.pool.NullPool)
        try:
            async with AsyncSession(engine) as session:
                return await query(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def history_jobs(seeded: dict[str, Any]) -> dict[uuid.UUID, m.Job]:
    """The history is the finished work: today's operation has none."""

    async def query(session: AsyncSession) -> dict[uuid.UUID, m.Job]:
        found = await session.scalars(sa.select(m.Job).where(m.Job.status.in_(FINISHED)))
        return {j.id: j for j in found}

    return read(seeded, query)


def rows(seeded: dict[str, Any], model: type[T]) -> list[T]:
    async def query(session: AsyncSession) -> list[T]:
        return list(await session.scalars(sa.select(model)))

    return read(seeded, query)


def events_by_job(seeded: dict[str, Any]) -> dict[uuid.UUID, list[m.JobStatusEvent]]:
    found: dict[uuid.UUID, list[m.JobStatusEvent]] = defaultdict(list)
    for event in sorted(rows(seeded, m.JobStatusEvent), key=lambda e: (e.occurred_at, e.created_at)):
        found[event.job_id].append(event)
    return found


def first_arrival(events: list[m.JobStatusEvent]) -> dt.datetime | None:
    return next((e.occurred_at for e in events if e.to_status is JobStatus.ON_SITE), None)


def test_seed_counts_the_history(seeded: dict[str, Any]) -> None:
    counts = seeded["counts"]
    assert counts["jobs"] == 150
    assert counts["history_days"] >= 25
    assert counts["history_jobs"] == len(history_jobs(seeded))
    assert counts["history_completed"] + counts["history_cancelled"] == counts["history_jobs"]
    for key in ("ratings", "complaints", "late_arrivals", "follow_ups", "reopened", "cancelled"):
        assert counts[f"history_{key}"] > 0, key


def test_the_history_covers_every_working_day_of_the_last_five_weeks_and_more(seeded: dict[str, Any]) -> None:
    today = seeded["today"]
    shifts = rows(seeded, m.Shift)
    shift_days = {s.starts_at.astimezone(PARIS).date() for s in shifts}
    working_days = {
        today - dt.timedelta(days=n) for n in range(1, 36) if (today - dt.timedelta(days=n)).weekday() < 5
    }
    assert working_days <= shift_days
    assert all(day.weekday() < 5 for day in shift_days)
    breaks = rows(seeded, m.ShiftBreak)
    assert len(breaks) > len(shifts) / 2
    completions = rows(seeded, m.JobCompletion)
    visit_days = {c.completed_at.astimezone(PARIS).date() for c in completions}
    assert min(visit_days) <= today - dt.timedelta(days=35)
    assert max(c.completed_at for c in completions) < dt.datetime.now(dt.UTC)
    assert working_days <= visit_days | {today - dt.timedelta(days=1)} | {today - dt.timedelta(days=2)}


def test_history_jobs_are_classified_priced_booked_and_assigned(seeded: dict[str, Any]) -> None:
    jobs = history_jobs(seeded)
    types = {t.id: t for t in rows(seeded, m.ServiceType)}
    assert {t.code: t.price_cents for t in types.values()} == PRICES
    appointments = {a.job_id: a for a in rows(seeded, m.Appointment)}
    assignments = {a.job_id: a for a in rows(seeded, m.Assignment)}
    requests = {r.id: r for r in rows(seeded, m.ServiceRequest)}
    for job in jobs.values():
        assert job.service_type_id is not None
        assert job.checklist == types[job.service_type_id].checklist
        if job.origin_job_id is None:
            assert job.value_cents == types[job.service_type_id].price_cents
            assert job.service_request_id in requests
        else:
            assert job.origin_kind in ("follow_up", "rework")
            assert job.value_cents == 0
            assert jobs[job.origin_job_id].service_type_id == job.service_type_id
        if job.status is not JobStatus.CANCELLED:
            assert appointments[job.id].status is AppointmentStatus.CONFIRMED
            assert job.id in assignments
        assert job.respond_by < job.resolve_by
    assert {r.channel for r in requests.values()} == {"phone", "email", "web", "chat", "app"}
    cancelled = [j for j in jobs.values() if j.status is JobStatus.CANCELLED and j.id in appointments]
    assert cancelled, "some cancelled after booking"
    assert all(appointments[j.id].status is AppointmentStatus.CANCELLED for j in cancelled)


def test_status_trails_are_whole_and_in_order(seeded: dict[str, Any]) -> None:
    jobs = history_jobs(seeded)
    events = events_by_job(seeded)
    completions: dict[uuid.UUID, list[m.JobCompletion]] = defaultdict(list)
    for c in sorted(rows(seeded, m.JobCompletion), key=lambda c: c.completed_at):
        completions[c.job_id].append(c)
    for job in jobs.values():
        trail = events[job.id]
        statuses = [e.to_status for e in trail]
        assert trail[0].from_status is None
        assert statuses[-1] is job.status
        assert is_legal_history(statuses), statuses
        for before, after in itertools.pairwise(trail):
            assert before.occurred_at < after.occurred_at
            assert after.from_status is before.to_status
        if job.status is JobStatus.CANCELLED:
            assert job.id not in completions
            continue
        visit = [
            JobStatus.SCHEDULED,
            JobStatus.DISPATCHED,
            JobStatus.EN_ROUTE,
            JobStatus.ON_SITE,
            JobStatus.IN_PROGRESS,
            JobStatus.COMPLETED,
        ]
        expected = [JobStatus.NEW, *visit] + [JobStatus.REOPENED, *visit] * statuses.count(JobStatus.REOPENED)
        assert statuses in (expected, [*expected, JobStatus.CLOSED])
        done = completions[job.id]
        assert len(done) == statuses.count(JobStatus.COMPLETED)
        assert [c.superseded_at is None for c in done] == [False] * (len(done) - 1) + [True]
        arrivals = [e.occurred_at for e in trail if e.to_status is JobStatus.ON_SITE]
        set_outs = [e.occurred_at for e in trail if e.to_status is JobStatus.EN_ROUTE]
        finished = [e.occurred_at for e in trail if e.to_status is JobStatus.COMPLETED]
        for completion, arrived, set_out, completed in zip(done, arrivals, set_outs, finished, strict=True):
            assert completion.completed_at == completed
            assert completion.arrived_at == arrived
            assert set_out < arrived < completion.completed_at
            assert completion.on_site_s == round((completed - arrived).total_seconds())
            assert completion.travel_s == round((arrived - set_out).total_seconds())
            assert completion.travel_m is not None
            assert completion.travel_m >= 0  # 0 from one job to another at the same site


def test_the_history_has_late_arrivals_follow_ups_reopened_and_cancelled_jobs(seeded: dict[str, Any]) -> None:
    jobs = history_jobs(seeded)
    events = events_by_job(seeded)
    appointments = {a.job_id: a for a in rows(seeded, m.Appointment)}
    late = on_time = 0
    for job in jobs.values():
        arrived = first_arrival(events[job.id])
        if arrived is None:
            continue
        window = appointments[job.id]
        if window.window_start <= arrived <= window.window_end:
            on_time += 1
        else:
            late += 1
    assert 0.02 < late / (late + on_time) < 0.2
    follow_ups = [j for j in jobs.values() if j.origin_kind == "follow_up"]
    assert follow_ups
    completions = rows(seeded, m.JobCompletion)
    asked = {c.follow_up_job_id for c in completions if c.outcome is CompletionOutcome.FOLLOW_UP}
    assert asked == {j.id for j in follow_ups}
    reopened = [j for j in jobs.values() if JobStatus.REOPENED in [e.to_status for e in events[j.id]]]
    assert reopened
    assert all(j.status in (JobStatus.COMPLETED, JobStatus.CLOSED) for j in reopened)
    assert any(j.status is JobStatus.CANCELLED for j in jobs.values())
    # Emergencies at night run past midnight.
    assert any(
        c.arrived_at is not None
        and c.arrived_at.astimezone(PARIS).date() != c.completed_at.astimezone(PARIS).date()
        for c in completions
    )


def test_most_completed_jobs_are_rated_mostly_well_and_better_over_the_weeks(seeded: dict[str, Any]) -> None:
    jobs = history_jobs(seeded)
    ratings = rows(seeded, m.Rating)
    completed = [j for j in jobs.values() if j.status is not JobStatus.CANCELLED]
    assert len(ratings) > 0.6 * len(completed)
    assert {r.job_id for r in ratings} <= {j.id for j in completed}
    scores = [r.score for r in ratings]
    assert set(scores) == {1, 2, 3, 4, 5}
    assert 0.7 < sum(s >= 4 for s in scores) / len(scores) < 0.95
    ordered = sorted(ratings, key=lambda r: r.rated_at)
    third = len(ordered) // 3
    assert statistics.mean(r.score for r in ordered[:third]) < statistics.mean(
        r.score for r in ordered[-third:]
    )
    # Lyon South is the territory that does worst.
    territory = {t.id: t.code for t in rows(seeded, m.Territory)}
    by_territory: dict[str, list[int]] = defaultdict(list)
    for r in ratings:
        by_territory[territory[jobs[r.job_id].territory_id]].append(r.score)
    means = {code: statistics.mean(s) for code, s in by_territory.items()}
    assert min(means, key=means.__getitem__) == "lyon-south"


def test_complaints_are_mostly_handled_some_open_and_one_past_its_deadline(seeded: dict[str, Any]) -> None:
    jobs = history_jobs(seeded)
    complaints = rows(seeded, m.Complaint)
    assert {c.category for c in complaints} == {"service", "technical", "billing"}
    assert all(c.job_id in jobs for c in complaints)
    handled = [c for c in complaints if c.status in (ComplaintStatus.RESOLVED, ComplaintStatus.CLOSED)]
    still_open = [
        c
        for c in complaints
        if c.status in (ComplaintStatus.OPEN, ComplaintStatus.IN_PROGRESS, ComplaintStatus.REOPENED)
    ]
    assert len(handled) > len(still_open) > 0
    now = dt.datetime.now(dt.UTC)
    for c in handled:
        assert c.received_at < (c.responded_at or now) <= (c.resolved_at or now)
    assert any(c.resolve_by < now for c in still_open), "one is past its resolve-by"
    assert any(c.rework_job_id is not None for c in complaints)
    actions = rows(seeded, m.ComplaintAction)
    assert {a.complaint_id for a in actions} == {c.id for c in complaints}


def test_nothing_in_the_history_is_open_work_today(seeded: dict[str, Any]) -> None:
    history = set(history_jobs(seeded))
    today = seeded["today"]

    async def planned(session: AsyncSession) -> set[str]:
        found: set[str] = set()
        for territory in await session.scalars(sa.select(m.Territory)):
            for day in (today, today + dt.timedelta(days=1)):
                problem = await territory_problem(session, territory, day)
                found |= {j.id for j in problem.problem.jobs}
        return found

    async def in_scopes(session: AsyncSession) -> set[uuid.UUID]:
        jobs = BY_NAME["jobs"]
        found: set[uuid.UUID] = set()
        for technician_id in await session.scalars(sa.select(m.Technician.id)):
            found |= set(
                await session.scalars(sa.select(jobs.table.c.id).where(in_scope(jobs, technician_id)))
            )
        return found

    plan_jobs = read(seeded, planned)
    assert plan_jobs, "today's operation is planned"
    assert not {uuid.UUID(j) for j in plan_jobs} & history
    scoped = read(seeded, in_scopes)
    assert scoped, "technicians hold today's work"
    assert not scoped & history
    assert len(scoped) == seeded["counts"]["assigned"]


def test_the_history_is_the_same_for_the_same_day_and_seed() -> None:
    """Built from a small world of its own (no database): one technician of each skill profile per territory."""
    ids = itertools.count(1)

    def uid() -> uuid.UUID:
        return uuid.UUID(int=next(ids))

    skills = {code: uid() for code, _ in SKILLS}
    kinds = tuple(
        demo_history.Kind(
            id=uid(),
            code=code,
            duration_s=minutes * 60,
            priority=priority,
            needs=tuple((skills[s], level) for s, level in needs.items()),
            price_cents=PRICES[code],
            checklist=tuple(checklist),
            parts=tuple(parts),
            tools=tuple(tools),
        )
        for code, _, minutes, priority, needs, checklist, parts, tools, _ in SERVICE_TYPES
    )
    technicians = tuple(
        demo_history.Tech(
            id=uid(),
            user_id=uid(),
            territory=territory,
            home=(45.76, 4.84),
            skills={skills[s]: level for s, level in profile.items()},
            part_time=False,
        )
        for territory in range(3)
        for profile in (
            {"gas": 3, "hvac": 3, "appliance": 3},
            {"electrical": 3, "locksmith": 3},
            {"plumbing": 3},
        )
    )
    world = demo_history.World(
        today=dt.date(2026, 3, 31),  # the history crosses the change to summer time
        timezone=TIMEZONE,
        territory_ids=(uid(), uid(), uid()),
        territory_codes=("lyon-north", "lyon-centre", "lyon-south"),
        dispatcher_ids=(uid(), uid(), uid()),
        technicians=technicians,
        kinds=kinds,
        places=tuple(
            demo_history.Place(
                id=uid(), customer_id=uid(), territory=t, point=(45.75 + k / 500, 4.83 + t / 100)
            )
            for t in range(3)
            for k in range(8)
        ),
        descriptions=PROBLEMS,
    )
    now = dt.datetime(2026, 3, 31, 9, tzinfo=dt.UTC)

    def build(seed: int) -> dict[str, list[dict[str, Any]]]:
        return demo_history.History(world, rng_seed=seed, now=now).build().rows

    first = build(7)
    assert first == build(7)
    assert first != build(8)
    assert len(first["jobs"]) > 100
    midnight = dt.datetime(2026, 3, 31, tzinfo=PARIS)
    assert max(e["occurred_at"] for e in first["job_status_events"]) < midnight
    # Shifts start at 08:00 in Paris on both sides of the change (29 March): 07:00 UTC before, 06:00 after.
    assert {s["starts_at"].astimezone(PARIS).time() for s in first["shifts"]} == {dt.time(8)}
    assert {s["starts_at"].astimezone(dt.UTC).hour for s in first["shifts"]} == {6, 7}
