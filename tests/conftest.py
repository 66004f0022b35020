"""Fixtures shared by the suite: a migrated database (SQLite by default, PostgreSQL when
FIELDWORK_TEST_DATABASE_URL is set), emptied before each test, a small deterministic world, and an HTTP client."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import io
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from hypothesis import settings as hypothesis_settings
from litestar import Litestar
from litestar.datastructures import State
from litestar.testing import TestClient
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api import cli
from api.app import app_state, create_app
from api.auth import issue_token
from api.settings import Settings
from domain import migrate
from domain import models as m
from domain.audit import GENESIS_HASH
from domain.db import create_engine
from domain.demo import TIMEZONE as DEMO_TIMEZONE
from domain.enums import JobStatus, Priority, Role
from domain.passwords import hash_password
from domain.session import AuditedSession

hypothesis_settings.register_profile("ci", max_examples=100, deadline=None, derandomize=True)
hypothesis_settings.register_profile("long", max_examples=3000, deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

PASSWORD = "correct-horse-battery"
_PASSWORD_HASH = hash_password(PASSWORD)


def _postgres_database(base_url: str) -> Iterator[str]:
    """A database of its own for this run, dropped afterwards, so parallel runs never collide."""
    import asyncpg  # type: ignore[import-untyped]

    url = make_url(base_url)
    name = f"fieldwork_test_{uuid.uuid4().hex[:10]}"
    admin_dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = os.environ.get("FIELDWORK_TEST_DATABASE_URL")
    if base:
        for url in _postgres_database(base):
            migrate.upgrade(url)
            yield url
        return
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    migrate.upgrade(url)
    yield url


@pytest.fixture(scope="session")
def is_postgres(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "postgresql"


_TABLES_IN_INSERT_ORDER = [t.name for t in m.metadata.sorted_tables]
_TABLES_IN_DELETE_ORDER = list(reversed(_TABLES_IN_INSERT_ORDER))


_EMPTY_SCRIPT = "".join(f"DELETE FROM {name}; " for name in _TABLES_IN_DELETE_ORDER) + (
    f"INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '{GENESIS_HASH}')"
)


async def _empty(engine: AsyncEngine) -> None:
    """Every table emptied and the audit chain back at its genesis, in one transaction sent as one script: a
    statement at a time costs a round trip each (a quarter of a second a test on a busy PostgreSQL)."""
    async with engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        if engine.dialect.name == "sqlite":
            await driver.executescript(f"BEGIN IMMEDIATE; {_EMPTY_SCRIPT}; COMMIT;")
        else:
            await driver.execute(f"BEGIN; {_EMPTY_SCRIPT}; COMMIT")


# The demo operation ------------------------------------------------------------------------------------------------

# A copy of the seeded demo is reused for this long, and only on the day it was seeded for.
DEMO_COPY_MAX_AGE_S = 300.0


@dataclass
class _DemoCopy:
    day: dt.date
    taken: float
    sqlite: sqlite3.Connection | None = None  # the database, copied into memory
    postgres: dict[str, bytes] = field(default_factory=dict)  # table -> its rows (binary COPY)


_DEMO: dict[str, _DemoCopy] = {}


def _asyncpg_dsn(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _postgres_copy(database_url: str) -> dict[str, bytes]:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        tables: dict[str, bytes] = {}
        for name in _TABLES_IN_INSERT_ORDER:
            buffer = io.BytesIO()
            status = await conn.copy_from_table(name, output=buffer, format="binary")
            if status != "COPY 0":
                tables[name] = buffer.getvalue()
        return tables
    finally:
        await conn.close()


async def _postgres_restore(database_url: str, tables: dict[str, bytes]) -> None:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        async with conn.transaction():
            await conn.execute(f"TRUNCATE {', '.join(_TABLES_IN_INSERT_ORDER)}")
            for name, rows in tables.items():
                await conn.copy_to_table(name, source=io.BytesIO(rows), format="binary")
    finally:
        await conn.close()


def seed_demo(database_url: str, engine: AsyncEngine) -> None:
    """The demo operation in the test database, as `fieldwork seed` leaves it.

    Seeding takes seconds (weeks of history), so the first call of a run seeds and keeps a copy of the whole
    database, and the next ones put that copy back; a copy older than DEMO_COPY_MAX_AGE_S or from another day (in
    the demo's time zone) is made again, so the demo's "today" and "now" stay as close as a fresh seed's."""
    asyncio.run(engine.dispose())
    today = dt.datetime.now(ZoneInfo(DEMO_TIMEZONE)).date()
    postgres = make_url(database_url).get_backend_name() == "postgresql"
    kept = _DEMO.get(database_url)
    if kept is not None and kept.day == today and time.monotonic() - kept.taken < DEMO_COPY_MAX_AGE_S:
        if kept.sqlite is not None:
            with contextlib.closing(sqlite3.connect(make_url(database_url).database or "")) as target:
                kept.sqlite.backup(target)
        else:
            asyncio.run(_postgres_restore(database_url, kept.postgres))
        return
    asyncio.run(_empty(engine))
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(["--database-url", database_url, "seed"]) == 0
    copy = _DemoCopy(day=today, taken=time.monotonic())
    if postgres:
        copy.postgres = asyncio.run(_postgres_copy(database_url))
    else:
        copy.sqlite = sqlite3.connect(":memory:", check_same_thread=False)
        with contextlib.closing(sqlite3.connect(make_url(database_url).database or "")) as source:
            source.backup(copy.sqlite)
    if kept is not None and kept.sqlite is not None:
        kept.sqlite.close()
    _DEMO[database_url] = copy


@pytest.fixture
def engine(database_url: str) -> Iterator[AsyncEngine]:
    engine = create_engine(database_url, poolclass=sa.pool.NullPool)
    asyncio.run(_empty(engine))
    yield engine
    asyncio.run(engine.dispose())


@pytest.fixture
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=AuditedSession)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path,
        jwt_secret="test-secret-" + "x" * 32,
        geocoder="gazetteer",
        login_attempts_per_minute=1000,
    )


_APPS: dict[str, Litestar] = {}


def app_for(settings: Settings, engine: AsyncEngine) -> Litestar:
    """The app for a test: built once per run (per settings, the data directory aside) and given a fresh state
    (api.app.app_state) for each test, since registering every route costs a few tenths of a second a test.

    The state is all an app keeps from one request to the next (the engine, the limiters, the solver pool, the keys
    and blob store in this test's data directory), so the test sees what a newly created app would show it.

    The engine stays the test's, without a pool: a pooled one would hand a connection made on one event loop to
    another (schemathesis drives the app from a loop of its own), which asyncpg does not survive."""
    key = repr(dataclasses.replace(settings, data_dir=Path()))
    app = _APPS.get(key)
    if app is None:
        app = _APPS[key] = create_app(settings, engine)
    else:
        app.state = State(app_state(settings, engine, jwt_auth=app.state.jwt_auth, locator=app.state.locator))
    return app


@pytest.fixture
def client(settings: Settings, engine: AsyncEngine) -> Iterator[TestClient[Any]]:
    app = app_for(settings, engine)
    with TestClient(app=app, raise_server_exceptions=False) as test_client:
        yield test_client


# A small world ------------------------------------------------------------------------------------------------------


@dataclass
class World:
    territories: dict[str, uuid.UUID] = field(default_factory=dict)
    skills: dict[str, uuid.UUID] = field(default_factory=dict)
    service_types: dict[str, uuid.UUID] = field(default_factory=dict)
    technicians: dict[str, uuid.UUID] = field(default_factory=dict)
    customers: dict[str, uuid.UUID] = field(default_factory=dict)
    sites: dict[str, uuid.UUID] = field(default_factory=dict)
    jobs: dict[str, uuid.UUID] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)  # login name -> e-mail


TODAY = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


async def build_world(sessionmaker: async_sessionmaker[AsyncSession]) -> World:
    """Two territories (north, south), two technicians in each, admin, a dispatcher per territory, and jobs:
    `north_assigned` (dispatched to tech_n1), `north_open` (new, triaged), `north_untriaged`, `south_open`."""
    w = World()
    async with sessionmaker() as s:
        s.info["actor"] = "test:world"
        for code, lat in (("north", 45.78), ("south", 45.73)):
            t = m.Territory(
                id=uuid.uuid4(),
                code=code,
                name=code.title(),
                center_latitude=lat,
                center_longitude=4.84,
                timezone="Europe/Paris",
            )
            s.add(t)
            w.territories[code] = t.id
        for code in ("plumbing", "electrical", "gas"):
            k = m.Skill(id=uuid.uuid4(), code=code, name=code.title())
            s.add(k)
            w.skills[code] = k.id
        await s.flush()
        leak = m.ServiceType(
            id=uuid.uuid4(),
            code="leak-repair",
            name="Water leak",
            default_duration_s=3600,
            default_priority=Priority.URGENT,
            checklist=["Water isolated", "Repair tested"],
            parts=["PTFE tape"],
            tools=["Pipe cutter"],
            keywords=["leak", "water", "pipe"],
            skills=[m.ServiceTypeSkill(skill_id=w.skills["plumbing"], min_level=2)],
        )
        fault = m.ServiceType(
            id=uuid.uuid4(),
            code="electrical-fault",
            name="Electrical fault",
            default_duration_s=5400,
            default_priority=Priority.HIGH,
            checklist=["Circuit isolated"],
            parts=[],
            tools=["Voltage tester"],
            keywords=["power", "breaker", "socket", "sparks"],
            skills=[m.ServiceTypeSkill(skill_id=w.skills["electrical"], min_level=3)],
        )
        s.add_all([leak, fault])
        w.service_types = {"leak-repair": leak.id, "electrical-fault": fault.id}
        await s.flush()
        for name, territory, skills in (
            ("tech_n1", "north", {"plumbing": 3}),
            ("tech_n2", "north", {"electrical": 3}),
            ("tech_s1", "south", {"plumbing": 2, "electrical": 3}),
            ("tech_s2", "south", {"gas": 2}),
        ):
            tech = m.Technician(
                id=uuid.uuid4(),
                name=name,
                email=f"{name}@example.com",
                territory_id=w.territories[territory],
                home_latitude=45.75,
                home_longitude=4.84,
                skills=[m.TechnicianSkill(skill_id=w.skills[k], level=v) for k, v in skills.items()],
            )
            s.add(tech)
            w.technicians[name] = tech.id
        await s.flush()
        for name, tech_id in w.technicians.items():
            s.add(
                m.User(
                    email=f"{name}@example.com",
                    full_name=name,
                    password_hash=_PASSWORD_HASH,
                    role=Role.TECHNICIAN,
                    technician_id=tech_id,
                )
            )
            w.users[name] = f"{name}@example.com"
        territories = {c: await s.get_one(m.Territory, i) for c, i in w.territories.items()}
        s.add(
            m.User(
                email="admin@example.com", full_name="Admin", password_hash=_PASSWORD_HASH, role=Role.ADMIN
            )
        )
        w.users["admin"] = "admin@example.com"
        for code in ("north", "south"):
            s.add(
                m.User(
                    email=f"disp_{code}@example.com",
                    full_name=f"Dispatcher {code}",
                    password_hash=_PASSWORD_HASH,
                    role=Role.DISPATCHER,
                    territories=[territories[code]],
                )
            )
            w.users[f"disp_{code}"] = f"disp_{code}@example.com"
        for code, lat in (("north", 45.781), ("south", 45.731)):
            c = m.Customer(
                id=uuid.uuid4(),
                name=f"Customer {code}",
                phone=f"+3361234{lat * 1000:.0f}",
                email=f"customer.{code}@example.net",
            )
            s.add(c)
            w.customers[code] = c.id
        await s.flush()
        for code, lat in (("north", 45.781), ("south", 45.731)):
            site = m.Site(
                id=uuid.uuid4(),
                customer_id=w.customers[code],
                territory_id=w.territories[code],
                address=f"1 Rue {code.title()}, Lyon",
                latitude=lat,
                longitude=4.84,
            )
            s.add(site)
            w.sites[code] = site.id
        await s.flush()
        for name, territory, stype in (
            ("north_assigned", "north", leak),
            ("north_open", "north", leak),
            ("north_untriaged", "north", None),
            ("south_open", "south", fault),
        ):
            job = m.Job(
                id=uuid.uuid4(),
                customer_id=w.customers[territory],
                site_id=w.sites[territory],
                territory_id=w.territories[territory],
                service_type_id=stype.id if stype else None,
                priority=Priority.NORMAL,
                description=f"job {name}",
                duration_s=3600,
                respond_by=TODAY + dt.timedelta(hours=30),
                resolve_by=TODAY + dt.timedelta(hours=80),
                checklist=[],
                parts=[],
                tools=[],
                suggested_service_type_codes=[],
                required_skills=[
                    m.JobRequiredSkill(skill_id=k.skill_id, min_level=k.min_level)
                    for k in (stype.skills if stype else [])
                ],
                time_windows=[
                    m.JobTimeWindow(
                        starts_at=TODAY + dt.timedelta(days=1, hours=8),
                        ends_at=TODAY + dt.timedelta(days=1, hours=12),
                    )
                ],
            )
            s.add(job)
            w.jobs[name] = job.id
        await s.flush()
        assigned = await s.get_one(m.Job, w.jobs["north_assigned"])
        assigned.status = JobStatus.DISPATCHED
        s.add(
            m.Assignment(
                job_id=assigned.id,
                technician_id=w.technicians["tech_n1"],
                planned_start=TODAY + dt.timedelta(days=1, hours=8),
            )
        )
        await s.commit()
    return w


@pytest.fixture
def world(sessionmaker: async_sessionmaker[AsyncSession]) -> World:
    return asyncio.run(build_world(sessionmaker))


def login(client: TestClient[Any], email: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/api/auth/token", json={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def auth(
    client: TestClient[Any], world: World, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> Any:
    """auth('disp_north') -> bearer headers for that world user, signed the way the login route signs them.

    A real login costs an Argon2 verification (about half a second on a busy machine); logging in is covered by
    its own tests (smoke, demo seed, route guards)."""

    async def users() -> dict[str, m.User]:
        async with sessionmaker() as s:
            return {u.email: u for u in await s.scalars(sa.select(m.User))}

    by_email = asyncio.run(users())
    cache: dict[str, dict[str, str]] = {}

    def headers(who: str) -> dict[str, str]:
        if who not in cache:
            token = issue_token(client.app.state.jwt_auth, settings, by_email[world.users[who]])
            cache[who] = {"Authorization": f"Bearer {token}"}
        return cache[who]

    return headers


async def count_rows(sessionmaker: async_sessionmaker[AsyncSession], model: Any) -> int:
    async with sessionmaker() as s:
        return int(await s.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def rows(sessionmaker: async_sessionmaker[AsyncSession], model: Any) -> int:
    return asyncio.run(count_rows(sessionmaker, model))


# Derived from the events and kept up to date by any KPI report (domain.kpis.store): a report filling them changes
# nothing anybody wrote.
_DERIVED_TABLES = frozenset(
    {"kpi_days", "kpi_technician_days", "kpi_response_times", "kpi_stale", "kpi_store"}
)


@pytest.fixture
def snapshot(sessionmaker: async_sessionmaker[AsyncSession]) -> Any:
    """snapshot() -> row counts of every table plus the audit head, to prove a failed request changed nothing."""

    async def take() -> dict[str, Any]:
        async with sessionmaker() as s:
            counts = {
                t.name: await s.scalar(sa.select(sa.func.count()).select_from(t))
                for t in m.metadata.sorted_tables
                if t.name not in _DERIVED_TABLES
            }
            counts["jobs.max_version"] = await s.scalar(sa.select(sa.func.sum(m.Job.version)))
            counts["audit_head"] = (await s.get_one(m.AuditHead, 1)).seq
            return counts

    return lambda: asyncio.run(take())
