"""Offline sync benchmark: the figures of docs/sync-protocol.md ("Figures to measure"), one fresh database each.

1. bootstrap   A technician with 500 jobs of 20 rows each in their copy (the job, its assignment and time window,
               3 status events, 3 notes, 4 checklist answers, 3 part lines, 2 time entries, a photo and a
               signature), next to another technician's 250 jobs. The time of a whole first sync (register, then
               pull pages until `has_more` is false) at page limits 500 and 2000: rows, pages, bytes, seconds.
               Target: under 2 s.
2. delta       A pull from a cursor after which 10 changes were made (10 pushes of one note each), the median of
               30 pulls from that cursor after 5 warm-up pulls, with 10^3 jobs in the database and with 10^6
               (10^5 with --quick); the technician holds 20 of them, the rest are bulk-loaded with their change
               feed. The ratio, and the plan of the delta query. Target: within 1.5x.
3. push500     500 offline mutations (status moves, notes, checklist answers, part lines, time entries) in one
               push from one device, three times (three technicians), then one replay of the first push.
               Target: under 2 s, every result `applied`.
4. concurrent  50 technicians' devices pushing 10 batches of 20 mutations each at once at a real server (uvicorn
               in a subprocess, one worker), retrying a 503 after its Retry-After. Throughput, 5xx, retries,
               deadlocks. Target: no 5xx other than retried 503s, no deadlock.

Figures 1-3 go through the HTTP API in process (Litestar's TestClient, the app built as `fieldwork serve` builds
it): their times are request times without a network, that is the server's work plus well under a millisecond of
in-process transport per request; request bodies are encoded before the clock starts. Every figure gets a fresh
database: a SQLite file in a temporary directory, or, with --database-url, a new database with a random name on
that PostgreSQL server (the URL's own database is only used to create and drop it), dropped at the end.

    .venv/bin/python bench/offline_sync.py                       # all four figures on SQLite
    .venv/bin/python bench/offline_sync.py --database-url postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/offline_sync.py --only delta --quick  # 10^5 jobs instead of 10^6
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import hashlib
import itertools
import json
import logging
import os
import platform
import shlex
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from litestar import Litestar  # noqa: E402
from litestar.testing import TestClient  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker  # noqa: E402
from sqlalchemy.ext.compiler import compiles  # noqa: E402
from sqlalchemy.sql.compiler import SQLCompiler  # noqa: E402
from sqlalchemy.sql.expression import ClauseElement, Executable  # noqa: E402

from api.app import create_app  # noqa: E402
from api.auth import issue_token, make_jwt_auth  # noqa: E402
from api.settings import Settings  # noqa: E402
from domain import migrate  # noqa: E402
from domain import models as m  # noqa: E402
from domain.changes import SPACE_ID  # noqa: E402
from domain.db import create_engine, write_intent  # noqa: E402
from domain.enums import JobStatus, Priority, Role  # noqa: E402
from domain.session import AuditedSession  # noqa: E402
from sync import pull as sync_pull  # noqa: E402
from sync.protocol import DEFAULT_PAGE  # noqa: E402

FIGURES = ("bootstrap", "delta", "push500", "concurrent")
SYNC = "/api/sync/v1"
SCHEMA_VERSION = 1
ACTOR = "bench:sync"
SECRET = "bench-sync-" + "x" * 40
# Nobody logs in: the bench signs the technicians' tokens itself, so no Argon2 hash is worth computing.
NO_LOGIN = "!bench"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)

BOOTSTRAP_JOBS = 500
ROWS_PER_JOB = 20  # the job and 19 rows hanging off it, see evidence()
BOOTSTRAP_LIMITS = (500, 2000)
BOOTSTRAP_RUNS = 3
DELTA_SMALL = 1_000
DELTA_LARGE = 1_000_000
DELTA_QUICK = 100_000
SCOPE_JOBS = 20
DELTA_CHANGES = 10
DELTA_WARMUP = 5
DELTA_PULLS = 30
QUERY_RUNS = 30
# The rest of the organisation in the delta databases: technicians whose grants share the table with ours.
OTHER_TECHNICIANS = 100
GRANT_EVERY = 10  # one bulk-loaded job in ten is in someone's scope
BULK_CHUNK = 20_000
PUSH_SIZE = 500
PUSH_JOBS = 50
PUSH_RUNS = 3
DEVICES = 50
BATCHES = 10
BATCH_SIZE = 20
JOBS_PER_DEVICE = 4
PUSH_ATTEMPTS = 30
REQUEST_TIMEOUT_S = 120.0

_STARTED = time.perf_counter()


class BenchError(RuntimeError):
    """Something the figures cannot be trusted after: a refused request, a wrong answer, a server that died."""


def note(message: str) -> None:
    """Progress on stderr, so that stdout holds only the report."""
    print(f"[{time.perf_counter() - _STARTED:7.1f} s] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------------------
# Databases
# --------------------------------------------------------------------------------------------------------------


async def _postgres(dsn: str, sql: str, *args: Any, value: bool = False) -> Any:
    """One statement on a connection of its own (CREATE/DROP DATABASE and VACUUM refuse to run in a
    transaction); with `value`, the first column of its first row."""
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        return await (conn.fetchval(sql, *args) if value else conn.execute(sql, *args))
    finally:
        await conn.close()


@dataclass(frozen=True, slots=True)
class Target:
    """Where the figures run: SQLite files in a temporary directory, or databases made on a PostgreSQL server."""

    postgres: sa.URL | None = None

    @property
    def engine(self) -> str:
        return "sqlite" if self.postgres is None else "postgresql"

    def admin_dsn(self) -> str:
        assert self.postgres is not None
        return self.postgres.set(drivername="postgresql").render_as_string(hide_password=False)

    def version(self) -> str:
        if self.postgres is None:
            return f"SQLite {sqlite3.sqlite_version}"
        return "PostgreSQL " + str(
            asyncio.run(_postgres(self.admin_dsn(), "SHOW server_version", value=True))
        )

    @contextlib.contextmanager
    def fresh(self, workdir: Path, label: str) -> Iterator[str]:
        """A new, migrated database for one figure; gone afterwards (a big SQLite file takes a gigabyte)."""
        if self.postgres is None:
            path = workdir / f"{label}.db"
            url = f"sqlite:///{path}"
            try:
                migrate.upgrade(url)
                yield url
            finally:
                for suffix in ("", "-wal", "-shm"):
                    path.with_name(path.name + suffix).unlink(missing_ok=True)
            return
        name = f"fieldwork_bench_sync_{uuid.uuid4().hex[:10]}"
        asyncio.run(_postgres(self.admin_dsn(), f'CREATE DATABASE "{name}"'))
        try:
            made = self.postgres.set(drivername="postgresql", database=name).render_as_string(
                hide_password=False
            )
            migrate.upgrade(made)
            yield made
        finally:
            asyncio.run(_postgres(self.admin_dsn(), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def settle(self, url: str) -> None:
        """PostgreSQL: VACUUM ANALYZE after seeding, what autovacuum does within a minute or so in production, so
        that the plans are those of a settled database and no autovacuum starts in the middle of a measurement.
        SQLite: nothing, as in production (the app never runs ANALYZE there)."""
        if self.postgres is not None:
            asyncio.run(_postgres(url, "VACUUM (ANALYZE)"))

    def deadlocks(self, url: str) -> int | None:
        """PostgreSQL's count of deadlocks it detected (and broke) in this database; None on SQLite."""
        if self.postgres is None:
            return None
        name = make_url(url).database
        stmt = "SELECT deadlocks FROM pg_stat_database WHERE datname = $1"
        found = asyncio.run(_postgres(self.admin_dsn(), stmt, name, value=True))
        return int(found or 0)


def sessionmaker_for(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # AuditedSession: its hooks write the audit chain and the change feed (sync_rows, sync_grants) exactly as the
    # app's own writers do, so what the pulls read is what production would hold.
    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=AuditedSession)


# --------------------------------------------------------------------------------------------------------------
# Seeding
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Refs:
    territory_id: uuid.UUID
    skill_id: uuid.UUID
    service_type_id: uuid.UUID
    places: tuple[tuple[uuid.UUID, uuid.UUID], ...]  # (customer, site): jobs are spread over them


@dataclass(slots=True)
class Tech:
    technician_id: uuid.UUID
    user: m.User
    jobs: list[uuid.UUID] = field(default_factory=list)


async def seed_reference(maker: async_sessionmaker[AsyncSession], places: int) -> Refs:
    async with maker() as s:
        s.info["actor"] = ACTOR
        territory = m.Territory(
            id=uuid.uuid4(), code="bench", name="Bench", center_latitude=45.76, center_longitude=4.84
        )
        skill = m.Skill(id=uuid.uuid4(), code="plumbing", name="Plumbing")
        s.add_all([territory, skill])
        await s.flush()
        kind = m.ServiceType(
            id=uuid.uuid4(),
            code="leak-repair",
            name="Water leak",
            default_duration_s=3600,
            default_priority=Priority.NORMAL,
            checklist=["Water isolated", "Repair tested"],
            parts=["PTFE tape", "15 mm elbow"],
            tools=["Pipe cutter"],
            keywords=["leak", "water"],
            skills=[m.ServiceTypeSkill(skill_id=skill.id, min_level=1)],
        )
        customers = [
            m.Customer(id=uuid.uuid4(), name=f"Customer {k:04d}", phone=f"+3361{k:07d}")
            for k in range(places)
        ]
        s.add_all([kind, *customers])
        await s.flush()
        sites = [
            m.Site(
                id=uuid.uuid4(),
                customer_id=c.id,
                territory_id=territory.id,
                address=f"{k + 1} Rue de la Republique, 69002 Lyon",
                latitude=45.76 + k * 1e-4,
                longitude=4.84,
                access_notes="Door code 1234B, third floor, ask for the caretaker",
            )
            for k, c in enumerate(customers)
        ]
        s.add_all(sites)
        await s.commit()
    return Refs(territory.id, skill.id, kind.id, tuple((s.customer_id, s.id) for s in sites))


async def add_technicians(
    maker: async_sessionmaker[AsyncSession], refs: Refs, names: Sequence[str]
) -> list[Tech]:
    async with maker() as s:
        s.info["actor"] = ACTOR
        technicians = [
            m.Technician(
                id=uuid.uuid4(),
                name=name,
                email=f"{name}@bench.example",
                territory_id=refs.territory_id,
                home_latitude=45.75,
                home_longitude=4.84,
                skills=[m.TechnicianSkill(skill_id=refs.skill_id, level=3)],
            )
            for name in names
        ]
        s.add_all(technicians)
        await s.flush()
        users = [
            m.User(
                id=uuid.uuid4(),
                email=f"{t.name}@bench.example",
                full_name=t.name,
                password_hash=NO_LOGIN,
                role=Role.TECHNICIAN,
                technician_id=t.id,
            )
            for t in technicians
        ]
        s.add_all(users)
        await s.commit()
    return [Tech(t.id, u) for t, u in zip(technicians, users, strict=True)]


def new_job(refs: Refs, k: int, status: JobStatus) -> m.Job:
    customer_id, site_id = refs.places[k % len(refs.places)]
    opens = NOW.replace(hour=8, minute=0, second=0) + dt.timedelta(days=k % 14)
    return m.Job(
        id=uuid.uuid4(),
        customer_id=customer_id,
        site_id=site_id,
        territory_id=refs.territory_id,
        service_type_id=refs.service_type_id,
        status=status,
        priority=Priority.NORMAL,
        description=f"Water leaking under the kitchen sink, flat {k}; the customer has turned off the main valve",
        duration_s=3600,
        respond_by=opens,
        resolve_by=opens + dt.timedelta(days=1),
        checklist=["Water isolated", "Repair tested"],
        parts=["PTFE tape"],
        tools=["Pipe cutter"],
        required_skills=[m.JobRequiredSkill(skill_id=refs.skill_id, min_level=1)],
        time_windows=[m.JobTimeWindow(starts_at=opens, ends_at=opens + dt.timedelta(hours=4))],
    )


def evidence(job: m.Job, technician_id: uuid.UUID, k: int) -> list[Any]:
    """The 17 rows a job gathers on a day of work; with the job, its assignment and time window, 20 rows."""
    day = job.respond_by
    statuses = (
        (None, JobStatus.NEW),
        (JobStatus.NEW, JobStatus.SCHEDULED),
        (JobStatus.SCHEDULED, JobStatus.DISPATCHED),
    )
    rows: list[Any] = [
        m.JobStatusEvent(
            job_id=job.id,
            from_status=before,
            to_status=after,
            occurred_at=day - dt.timedelta(days=2, hours=-i),
        )
        for i, (before, after) in enumerate(statuses)
    ]
    rows += [
        m.JobNote(
            id=uuid.uuid4(),
            job_id=job.id,
            technician_id=technician_id,
            body=body,
            written_at=day + dt.timedelta(minutes=10 * i),
        )
        for i, body in enumerate(
            (
                "Leak traced to the compression fitting under the sink; water isolated at the main valve.",
                "Replaced the fitting and the 15 mm elbow; tested under pressure for ten minutes, no drip.",
                f"Customer asked about the boiler service; left a leaflet. Visit {k}.",
            )
        )
    ]
    answers: dict[str, Any] = {
        "Water isolated": True,
        "Repair tested": True,
        "pressure_bar": 2.4,
        "outcome": "fixed",
    }
    rows += [
        m.JobFieldValue(id=uuid.uuid4(), job_id=job.id, name=name, value=value, technician_id=technician_id)
        for name, value in answers.items()
    ]
    rows += [
        m.JobPartLine(id=uuid.uuid4(), job_id=job.id, technician_id=technician_id, part=part, quantity=qty)
        for part, qty in (("PTFE tape", 1.0), ("15 mm elbow", 2.0), ("Compression fitting 15 mm", 1.0))
    ]
    rows += [
        m.TimeEntry(
            id=uuid.uuid4(),
            job_id=job.id,
            technician_id=technician_id,
            started_at=day + dt.timedelta(hours=i),
            ended_at=day + dt.timedelta(hours=i, minutes=45),
            clock_offset_s=0.0,
        )
        for i in range(2)
    ]
    rows.append(
        m.JobPhoto(
            id=uuid.uuid4(),
            job_id=job.id,
            technician_id=technician_id,
            sha256=uuid.uuid4().hex * 2,
            caption="Fitting before the repair",
            taken_at=day,
        )
    )
    rows.append(
        m.JobSignature(
            id=uuid.uuid4(),
            job_id=job.id,
            technician_id=technician_id,
            sha256=uuid.uuid4().hex * 2,
            signer_name="Mrs Customer",
            captured_at=day + dt.timedelta(hours=2),
            latitude=45.76,
            longitude=4.84,
        )
    )
    return rows


async def assign_jobs(
    maker: async_sessionmaker[AsyncSession],
    refs: Refs,
    tech: Tech,
    count: int,
    *,
    with_evidence: bool,
    per_commit: int = 25,
) -> None:
    """`count` dispatched jobs assigned to `tech` (the assignment is what grants them to the technician's device),
    committed `per_commit` at a time as an office would, each commit one version of the change feed."""
    for start in range(0, count, per_commit):
        async with maker() as s:
            s.info["actor"] = ACTOR
            jobs = [
                new_job(refs, start + k, JobStatus.DISPATCHED) for k in range(min(per_commit, count - start))
            ]
            s.add_all(jobs)
            # The jobs first: nothing but the foreign keys ties the child rows to them, and the unit of work
            # orders inserts by relationships only.
            await s.flush()
            for k, job in enumerate(jobs):
                s.add(
                    m.Assignment(
                        job_id=job.id,
                        technician_id=tech.technician_id,
                        planned_start=job.respond_by,
                        sequence=k,
                    )
                )
                if with_evidence:
                    s.add_all(evidence(job, tech.technician_id, start + k))
            await s.commit()
        tech.jobs += [job.id for job in jobs]


def bulk_job(refs: Refs, k: int, job_id: uuid.UUID, now: dt.datetime) -> dict[str, Any]:
    customer_id, site_id = refs.places[k % len(refs.places)]
    day = now - dt.timedelta(days=1 + k % 700)
    return {
        "id": job_id,
        "customer_id": customer_id,
        "site_id": site_id,
        "territory_id": refs.territory_id,
        "service_type_id": refs.service_type_id,
        "status": JobStatus.COMPLETED,
        "priority": Priority.NORMAL,
        "description": f"Water leaking under the kitchen sink, flat {k}",
        "duration_s": 3600,
        "respond_by": day,
        "resolve_by": day + dt.timedelta(days=1),
        "checklist": ["Water isolated", "Repair tested"],
        "parts": [],
        "tools": [],
        "suggested_service_type_codes": [],
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }


async def bulk_jobs(engine: AsyncEngine, refs: Refs, count: int, grantees: Sequence[uuid.UUID]) -> None:
    """`count` past jobs with their change-feed entries (one version each, as if each had its own commit) and, for
    one in GRANT_EVERY, a grant to one of `grantees`: Core executemany in chunks, no ORM, no audit, so that a
    million jobs load in minutes. The space's version follows the feed chunk by chunk, so the database is
    consistent after every commit."""
    async with engine.connect() as conn:
        version = int(
            await conn.scalar(sa.select(m.SyncSpace.version).where(m.SyncSpace.id == SPACE_ID)) or 0
        )
        made, shown = 0, 0
        while made < count:
            size = min(BULK_CHUNK, count - made)
            now = dt.datetime.now(dt.UTC)
            ids = [uuid.uuid4() for _ in range(size)]
            jobs = [bulk_job(refs, made + k, job_id, now) for k, job_id in enumerate(ids)]
            feed = [
                {
                    "table_name": "jobs",
                    "row_id": job_id,
                    "space_id": SPACE_ID,
                    "version": version + k + 1,
                    "job_id": job_id,
                    "deleted": False,
                    "changed_at": now,
                }
                for k, job_id in enumerate(ids)
            ]
            grants = [
                {
                    "technician_id": grantees[(made + k) % len(grantees)],
                    "job_id": job_id,
                    "active": True,
                    "version": version + k + 1,
                    "changed_at": now,
                }
                for k, job_id in enumerate(ids)
                if (made + k) % GRANT_EVERY == 0
            ]
            await conn.execute(sa.insert(m.Job), jobs)
            await conn.execute(sa.insert(m.SyncRow), feed)
            if grants:
                await conn.execute(sa.insert(m.SyncGrant), grants)
            version += size
            await conn.execute(
                sa.update(m.SyncSpace).where(m.SyncSpace.id == SPACE_ID).values(version=version)
            )
            await conn.commit()
            made += size
            if made * 10 // count > shown:
                shown = made * 10 // count
                note(f"  bulk load: {made} of {count} jobs")


# --------------------------------------------------------------------------------------------------------------
# Offline work, as a device records it
# --------------------------------------------------------------------------------------------------------------

# A visit: the technician's status moves with the evidence in between. Repeated work on a job after that is
# evidence only (a technician may add notes, answers, parts and time whatever the job's status).
VISIT = (
    *("en_route", "on_site", "time.start", "in_progress", "note"),
    *("fields", "part", "note", "time.stop", "completed"),
)
MORE_WORK = ("note", "fields", "part", "time.start", "time.stop")
NOTES = (
    "Leak traced to the compression fitting under the sink.",
    "Water isolated at the main valve; the customer was told.",
    "Replaced the fitting, tested under pressure for ten minutes: no drip.",
    "Advised the customer to have the boiler serviced before winter.",
)
PARTS = ("PTFE tape", "15 mm elbow", "Compression fitting 15 mm", "Flexible tap connector")


class Recorder:
    """One device's queue of offline work: mutations numbered 1, 2, 3, ... as the app numbers them, stamped by a
    device clock that starts hours ago and moves a minute per mutation (so its time entries never overlap)."""

    def __init__(self) -> None:
        self.next_id = 1
        self.clock = NOW - dt.timedelta(hours=9)
        self.open_entry: str | None = None

    def work(self, jobs: Sequence[uuid.UUID], count: int) -> list[dict[str, Any]]:
        """`count` mutations spread evenly over `jobs`, job after job."""
        per_job, extra = divmod(count, len(jobs))
        recorded: list[dict[str, Any]] = []
        for index, job_id in enumerate(jobs):
            steps = per_job + (1 if index < extra else 0)
            for kind in itertools.islice(itertools.chain(VISIT, itertools.cycle(MORE_WORK)), steps):
                recorded.append(self.record(job_id, kind))
        return recorded

    def record(self, job: uuid.UUID, kind: str) -> dict[str, Any]:
        """The device's next mutation: one of VISIT's or MORE_WORK's kinds, on `job`."""
        job_id = str(job)
        self.clock += dt.timedelta(minutes=1)
        at = self.clock.isoformat()
        seq = self.next_id
        name, args = "job.transition_status.v1", {"job_id": job_id, "to": kind, "epoch": 1}
        if kind == "note":
            name = "job.add_note.v1"
            args = {
                "job_id": job_id,
                "note_id": str(uuid.uuid4()),
                "body": NOTES[seq % len(NOTES)],
                "epoch": 1,
                "written_at": at,
            }
        elif kind == "fields":
            name = "job.set_fields.v1"
            fields = {"Water isolated": True, "pressure_bar": 2.0 + seq % 10 / 10, "outcome": "fixed"}
            args = {"job_id": job_id, "fields": fields, "epoch": 1}
        elif kind == "part":
            name = "job.add_part_line.v1"
            args = {
                "job_id": job_id,
                "line_id": str(uuid.uuid4()),
                "part": PARTS[seq % len(PARTS)],
                "quantity": 1 + seq % 3,
                "epoch": 1,
            }
        elif kind == "time.start":
            self.open_entry = str(uuid.uuid4())
            name = "time.start.v1"
            args = {"job_id": job_id, "entry_id": self.open_entry, "started_at": at, "epoch": 1}
        elif kind == "time.stop":
            assert self.open_entry is not None, "a stop follows its start"
            name, args = "time.stop.v1", {"entry_id": self.open_entry, "ended_at": at}
            self.open_entry = None
        self.next_id += 1
        return {"id": seq, "uuid": str(uuid.uuid4()), "name": name, "args": args, "client_ts": at}


def push_body(device_id: str, mutations: list[dict[str, Any]]) -> dict[str, Any]:
    return {"device_id": device_id, "schema_version": SCHEMA_VERSION, "mutations": mutations}


def device_body(device_id: str) -> dict[str, Any]:
    return {"device_id": device_id, "app_version": "bench/1", "schema_version": SCHEMA_VERSION}


# --------------------------------------------------------------------------------------------------------------
# The app in process
# --------------------------------------------------------------------------------------------------------------


def bench_settings(url: str, workdir: Path) -> Settings:
    return Settings(
        database_url=url, data_dir=workdir / "data", jwt_secret=SECRET, login_attempts_per_minute=10_000
    )


@dataclass(slots=True)
class Statements:
    """Counts the SQL statements the app sends (a listener on its engine): what a figure costs the database."""

    count: int = 0

    def __call__(self, *_: Any) -> None:
        self.count += 1


@dataclass(slots=True)
class App:
    client: TestClient[Litestar]
    settings: Settings
    statements: Statements


@contextlib.contextmanager
def in_process(url: str, workdir: Path) -> Iterator[App]:
    settings = bench_settings(url, workdir)
    # The engine as `fieldwork serve` makes it, pooled: a connection per request would measure connection set-up
    # (PostgreSQL's especially), not sync. Its connections live in the test client's event loop until the app's
    # shutdown disposes of it.
    engine = create_engine(url)
    statements = Statements()
    event.listen(engine.sync_engine, "before_cursor_execute", statements)
    with TestClient(app=create_app(settings, engine), raise_server_exceptions=False) as client:
        yield App(client, settings, statements)


def bearer(app: App, user: m.User) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(app.client.app.state.jwt_auth, app.settings, user)}"}


@dataclass(frozen=True, slots=True)
class Reply:
    response: httpx.Response
    seconds: float
    statements: int  # SQL statements the request sent, authentication included

    def expect(self, *statuses: int) -> dict[str, Any]:
        """The JSON body of an expected answer; anything else stops the figure."""
        if self.response.status_code not in statuses:
            raise BenchError(
                f"{self.response.request.url.path} answered {self.response.status_code}: "
                f"{self.response.text[:800]}"
            )
        body: dict[str, Any] = self.response.json()
        return body


def post(app: App, path: str, body: dict[str, Any], headers: dict[str, str]) -> Reply:
    """One request and its time; the body is encoded before the clock starts (that is the client's work)."""
    content = json.dumps(body).encode()
    sent = {**headers, "Content-Type": "application/json"}
    before = app.statements.count
    started = time.perf_counter()
    response = app.client.post(SYNC + path, content=content, headers=sent)
    return Reply(response, time.perf_counter() - started, app.statements.count - before)


@dataclass(slots=True)
class Sweep:
    """A whole first sync of one device: register, then pull until `has_more` is false."""

    device_id: str
    seconds: float = 0.0
    statements: int = 0
    pages: int = 0
    changes: int = 0
    bytes: int = 0
    cursor: str | None = None
    tables: Counter[str] = field(default_factory=Counter)
    distinct: set[tuple[str, str]] = field(default_factory=set)


def sweep(app: App, headers: dict[str, str], limit: int) -> Sweep:
    done = Sweep(str(uuid.uuid4()))
    reply = post(app, "/devices", device_body(done.device_id), headers)
    reply.expect(201)
    done.seconds, done.statements = reply.seconds, reply.statements
    while True:
        body = {"device_id": done.device_id, "schema_version": SCHEMA_VERSION, "cursor": done.cursor}
        reply = post(app, "/pull", {**body, "limit": limit}, headers)
        page = reply.expect(200)
        done.seconds += reply.seconds
        done.statements += reply.statements
        done.pages += 1
        done.bytes += len(reply.response.content)
        done.cursor = page["cursor"]
        for change in page["changes"]:
            done.changes += 1
            done.tables[change["table"]] += 1
            done.distinct.add((change["table"], change["id"]))
        if page["reset_required"]:
            raise BenchError("a bootstrap was told to reset")
        if not page["has_more"]:
            return done


# --------------------------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Check:
    label: str
    value: str
    target: str
    ok: bool | None  # None: reported without a target


@dataclass(slots=True)
class Figure:
    name: str
    title: str
    lines: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    failed: bool = False


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def mib(size: int) -> str:
    return f"{size / 2**20:.2f} MiB"


def verdict(ok: bool | None) -> str:
    return {True: "yes", False: "**no**", None: ""}[ok]


# --------------------------------------------------------------------------------------------------------------
# 1. Bootstrap
# --------------------------------------------------------------------------------------------------------------


async def seed_bootstrap(url: str, jobs: int) -> tuple[Tech, Tech]:
    engine = create_engine(url)
    try:
        maker = sessionmaker_for(engine)
        refs = await seed_reference(maker, places=50)
        tech, other = await add_technicians(maker, refs, ["tech-bootstrap", "tech-other"])
        await assign_jobs(maker, refs, tech, jobs, with_evidence=True)
        # Someone else's jobs in the same tables, so that the scope filter has something to leave out.
        await assign_jobs(maker, refs, other, jobs // 2, with_evidence=False)
        return tech, other
    finally:
        await engine.dispose()


def figure_bootstrap(target: Target, workdir: Path, args: argparse.Namespace) -> Figure:
    jobs: int = args.bootstrap_jobs
    figure = Figure("bootstrap", f"bootstrap of a technician with {jobs} jobs of {ROWS_PER_JOB} rows each")
    with target.fresh(workdir, "bootstrap") as url:
        note(f"bootstrap: seeding {jobs} jobs x {ROWS_PER_JOB} rows through the ORM (AuditedSession)")
        started = time.perf_counter()
        tech, other = asyncio.run(seed_bootstrap(url, jobs))
        seeded = time.perf_counter() - started
        note(f"bootstrap: seeded in {seeded:.1f} s")
        target.settle(url)
        runs: dict[int, list[Sweep]] = {}
        with in_process(url, workdir) as app:
            headers = bearer(app, tech.user)
            # The first sync after start-up pays for the app's caches (compiled statements, pool): shown apart.
            first = sweep(app, headers, BOOTSTRAP_LIMITS[0])
            for limit in BOOTSTRAP_LIMITS:
                runs[limit] = [sweep(app, headers, limit) for _ in range(BOOTSTRAP_RUNS)]
                note(f"bootstrap: limit {limit}: " + ", ".join(f"{r.seconds:.2f} s" for r in runs[limit]))
    anchored = jobs * ROWS_PER_JOB
    reference = first.tables["skills"] + first.tables["service_types"]
    foreign = {str(j) for j in other.jobs} & {i for t, i in first.distinct if t == "jobs"}
    if first.changes != len(first.distinct) or first.changes != anchored + reference or foreign:
        raise BenchError(
            f"the bootstrap sent {first.changes} changes ({len(first.distinct)} distinct, "
            f"{len(foreign)} of another technician's jobs); expected {anchored} rows of the technician's "
            f"jobs and {reference} of reference data"
        )
    figure.lines += [
        f"Database: {jobs} jobs x {ROWS_PER_JOB} rows for the technician ({anchored} rows) and {len(other.jobs)} "
        f"jobs (x 3 rows) of another technician, seeded through the ORM with AuditedSession in {seeded:.1f} s. "
        "Time: register + every pull until `has_more` is false, in-process requests.",
        "",
        "| page limit | run | rows | pages | bytes | SQL statements | seconds |",
        "|--:|---|--:|--:|--:|--:|--:|",
        f"| {BOOTSTRAP_LIMITS[0]} | first after start-up | {first.changes} | {first.pages} "
        f"| {first.bytes} ({mib(first.bytes)}) | {first.statements} | {first.seconds:.3f} |",
    ]
    for limit, made in runs.items():
        middle = sorted(made, key=lambda r: r.seconds)[len(made) // 2]
        times = ", ".join(f"{r.seconds:.3f}" for r in made)
        figure.lines.append(
            f"| {limit} | median of {len(made)} ({times}) | {middle.changes} | {middle.pages} "
            f"| {middle.bytes} ({mib(middle.bytes)}) | {middle.statements} | {middle.seconds:.3f} |"
        )
        figure.checks.append(
            Check(
                f"bootstrap, {jobs} jobs ({middle.changes} rows), limit {limit}",
                f"{middle.seconds:.2f} s, {middle.pages} pages, {mib(middle.bytes)}",
                "< 2 s",
                middle.seconds < 2.0,
            )
        )
        figure.data[f"limit_{limit}"] = {
            "seconds": [r.seconds for r in made],
            "rows": middle.changes,
            "pages": middle.pages,
            "bytes": middle.bytes,
        }
    figure.lines += ["", "Rows per table: " + ", ".join(f"{t} {n}" for t, n in first.tables.items()) + "."]
    figure.data.update(seed_s=seeded, first_s=first.seconds, tables=dict(first.tables))
    return figure


# --------------------------------------------------------------------------------------------------------------
# 2. Delta
# --------------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class DeltaCase:
    jobs: int
    load_s: float
    bootstrap: Sweep
    pulls: list[float]
    statements: int  # of one delta pull
    query: list[float]
    plan: list[str]

    @property
    def median(self) -> float:
        return statistics.median(self.pulls)

    @property
    def uses_index(self) -> bool:
        return any("ix_sync_rows_space_version" in line for line in self.plan)


async def seed_delta(url: str, total: int) -> tuple[Tech, float]:
    engine = create_engine(url)
    try:
        maker = sessionmaker_for(engine)
        refs = await seed_reference(maker, places=100)
        others = await add_technicians(maker, refs, [f"tech-{k:03d}" for k in range(OTHER_TECHNICIANS)])
        (tech,) = await add_technicians(maker, refs, ["tech-delta"])
        started = time.perf_counter()
        # The organisation's history first (old versions), then the technician's own jobs through the ORM.
        await bulk_jobs(engine, refs, total - SCOPE_JOBS, [t.technician_id for t in others])
        await assign_jobs(maker, refs, tech, SCOPE_JOBS, with_evidence=True)
        return tech, time.perf_counter() - started
    finally:
        await engine.dispose()


class Explain(Executable, ClauseElement):
    """`EXPLAIN QUERY PLAN <statement>` (SQLite) or `EXPLAIN <statement>` (PostgreSQL), SQLAlchemy's recipe: the
    statement compiles as the app's would, its parameters bound by their own types (UUIDs are BLOBs on SQLite)."""

    inherit_cache = False

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement


@compiles(Explain)
def _compile_explain(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    prefix = "EXPLAIN QUERY PLAN " if compiler.dialect.name == "sqlite" else "EXPLAIN "
    sql = prefix + str(compiler.process(element.statement, **kw))
    # The plan's rows are not the statement's: forget its columns, or their types (a UUID as BLOB) would be
    # applied to the plan's text.
    compiler._result_columns = []
    return sql


def plan_lines(rows: Sequence[Sequence[Any]], dialect: str) -> list[str]:
    if dialect != "sqlite":
        return [str(row[0]) for row in rows]
    depth: dict[int, int] = {0: -1}
    lines = []
    for row in rows:  # (id, parent, unused, detail)
        node, parent = int(row[0]), int(row[1])
        depth[node] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node] + str(row[3]))
    return lines


async def inspect_delta(url: str, technician_id: uuid.UUID, after: int) -> tuple[list[str], list[float]]:
    """The plan of the delta query as `sync.pull._items` sends it (ordered, limit + 1 for the probe), and its time
    alone, without HTTP, auth and the rest of the pull."""
    stmt = (
        sync_pull._changed_rows(technician_id, after)
        .order_by(m.SyncRow.version, m.SyncRow.table_name, m.SyncRow.row_id)
        .limit(DEFAULT_PAGE + 1)
    )
    engine = create_engine(url, poolclass=sa.pool.NullPool)
    # A read, as the pull route marks it: on SQLite it must not begin with the write lock.
    reset = write_intent.set(False)
    try:
        async with engine.connect() as conn:
            plan = plan_lines((await conn.execute(Explain(stmt))).all(), conn.dialect.name)
            timings = []
            for i in range(DELTA_WARMUP + QUERY_RUNS):
                started = time.perf_counter()
                found = (await conn.execute(stmt)).all()
                if i >= DELTA_WARMUP:
                    timings.append(time.perf_counter() - started)
            if len(found) != DELTA_CHANGES:
                raise BenchError(f"the delta query found {len(found)} rows, not {DELTA_CHANGES}")
            return plan, timings
    finally:
        write_intent.reset(reset)
        await engine.dispose()


def delta_case(target: Target, workdir: Path, total: int) -> DeltaCase:
    with target.fresh(workdir, f"delta-{total}") as url:
        note(f"delta: seeding {total} jobs ({total - SCOPE_JOBS} bulk-loaded, {SCOPE_JOBS} the technician's)")
        tech, load_s = asyncio.run(seed_delta(url, total))
        note(f"delta: {total} jobs loaded in {load_s:.1f} s")
        target.settle(url)
        with in_process(url, workdir) as app:
            headers = bearer(app, tech.user)
            first = sweep(app, headers, DEFAULT_PAGE)
            # The 10 changes: notes pushed from the technician's other device, one push (one version) each.
            writer = str(uuid.uuid4())
            post(app, "/devices", device_body(writer), headers).expect(201)
            recorder = Recorder()
            for k in range(DELTA_CHANGES):
                mutation = recorder.record(tech.jobs[k % len(tech.jobs)], "note")
                pushed = post(app, "/push", push_body(writer, [mutation]), headers).expect(200)
                if pushed["results"][0]["result"] != "applied":
                    raise BenchError(f"a note was not applied: {pushed['results'][0]}")
            body = {"device_id": first.device_id, "schema_version": SCHEMA_VERSION, "cursor": first.cursor}
            pulls = []
            for i in range(DELTA_WARMUP + DELTA_PULLS):
                reply = post(app, "/pull", {**body, "limit": DEFAULT_PAGE}, headers)
                page = reply.expect(200)
                if len(page["changes"]) != DELTA_CHANGES or page["has_more"]:
                    raise BenchError(
                        f"the delta pull sent {len(page['changes'])} changes, not {DELTA_CHANGES}"
                    )
                if i >= DELTA_WARMUP:
                    pulls.append(reply.seconds)
            statements = reply.statements
        # A finished bootstrap leaves a delta cursor: the version the pulls start after.
        if first.cursor is None or not first.cursor.isdigit():
            raise BenchError(f"the bootstrap ended on cursor {first.cursor!r}")
        plan, query = asyncio.run(inspect_delta(url, tech.technician_id, int(first.cursor)))
    note(f"delta: {total} jobs: median pull {ms(statistics.median(pulls))}")
    return DeltaCase(total, load_s, first, pulls, statements, query, plan)


def figure_delta(target: Target, workdir: Path, args: argparse.Namespace) -> Figure:
    large: int = args.big_jobs or (DELTA_QUICK if args.quick else DELTA_LARGE)
    small, big = (delta_case(target, workdir, n) for n in (DELTA_SMALL, large))
    ratio = big.median / small.median
    figure = Figure("delta", f"delta pull of {DELTA_CHANGES} changes, {small.jobs} vs {big.jobs} jobs")
    figure.lines += [
        f"The technician holds {SCOPE_JOBS} jobs ({SCOPE_JOBS * ROWS_PER_JOB} rows); the other jobs are "
        f"bulk-loaded (Core executemany) with one change-feed version each, one in {GRANT_EVERY} granted to one "
        f"of {OTHER_TECHNICIANS} other technicians. After the device's bootstrap, {DELTA_CHANGES} notes are "
        f"pushed from another device (one version each); then {DELTA_PULLS} pulls from the same cursor after "
        f"{DELTA_WARMUP} warm-up pulls. 'Query alone' is the delta statement of `sync.pull._items` executed "
        f"directly ({QUERY_RUNS} runs).",
        "",
        "| jobs in the database | load | bootstrap (its rows) | pull median | pull p90 | pull min-max "
        "| SQL statements a pull | query alone median | plan uses ix_sync_rows_space_version |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for case in (small, big):
        ordered = sorted(case.pulls)
        figure.lines.append(
            f"| {case.jobs} | {case.load_s:.1f} s | {case.bootstrap.seconds:.3f} s ({case.bootstrap.changes}) "
            f"| {ms(case.median)} | {ms(ordered[int(0.9 * (len(ordered) - 1))])} "
            f"| {ms(ordered[0])} - {ms(ordered[-1])} | {case.statements} | {ms(statistics.median(case.query))} "
            f"| {verdict(case.uses_index)} |"
        )
    query_ratio = statistics.median(big.query) / statistics.median(small.query)
    figure.lines += [
        "",
        f"Ratio {big.jobs} / {small.jobs}: pull {ratio:.2f}x, query alone {query_ratio:.2f}x.",
    ]
    word = "EXPLAIN QUERY PLAN" if target.engine == "sqlite" else "EXPLAIN"
    for case in (small, big):
        figure.lines += ["", f"{word} of the delta query, {case.jobs} jobs:", "", "```", *case.plan, "```"]
    figure.checks.append(
        Check(
            f"delta pull ({DELTA_CHANGES} changes), {big.jobs} vs {small.jobs} jobs",
            f"{ms(big.median)} vs {ms(small.median)} = {ratio:.2f}x",
            "<= 1.5x",
            ratio <= 1.5,
        )
    )
    figure.checks.append(
        Check(
            "delta query plan uses ix_sync_rows_space_version",
            f"{verdict(small.uses_index) or 'no'} / {verdict(big.uses_index) or 'no'}",
            "yes",
            small.uses_index and big.uses_index,
        )
    )
    figure.data = {
        str(c.jobs): {
            "load_s": c.load_s,
            "bootstrap_s": c.bootstrap.seconds,
            "pull_s": c.pulls,
            "query_s": c.query,
            "plan": c.plan,
        }
        for c in (small, big)
    } | {"ratio": ratio}
    return figure


# --------------------------------------------------------------------------------------------------------------
# 3. Push of 500
# --------------------------------------------------------------------------------------------------------------


async def seed_push(url: str) -> list[Tech]:
    engine = create_engine(url)
    try:
        maker = sessionmaker_for(engine)
        refs = await seed_reference(maker, places=20)
        techs = await add_technicians(maker, refs, [f"tech-push-{k}" for k in range(PUSH_RUNS + 1)])
        await assign_jobs(maker, refs, techs[0], 2, with_evidence=False)  # the warm-up's
        for tech in techs[1:]:
            await assign_jobs(maker, refs, tech, PUSH_JOBS, with_evidence=False)
        return techs
    finally:
        await engine.dispose()


def figure_push500(target: Target, workdir: Path, args: argparse.Namespace) -> Figure:
    figure = Figure("push500", f"{PUSH_SIZE} queued offline mutations in one push")
    with target.fresh(workdir, "push500") as url:
        techs = asyncio.run(seed_push(url))
        target.settle(url)
        rows: list[str] = []
        seconds_all: list[float] = []
        kinds: Counter[str] = Counter()
        all_applied = True
        with in_process(url, workdir) as app:
            # A small push first, so that the measured ones do not pay for the app's first statements.
            warm, device = techs[0], str(uuid.uuid4())
            headers = bearer(app, warm.user)
            post(app, "/devices", device_body(device), headers).expect(201)
            post(app, "/push", push_body(device, Recorder().work(warm.jobs, 20)), headers).expect(200)
            replay: tuple[dict[str, Any], dict[str, str]] | None = None
            for run, tech in enumerate(techs[1:], start=1):
                device = str(uuid.uuid4())
                headers = bearer(app, tech.user)
                post(app, "/devices", device_body(device), headers).expect(201)
                body = push_body(device, Recorder().work(tech.jobs, PUSH_SIZE))
                reply = post(app, "/push", body, headers)
                results = Counter(r["result"] for r in reply.expect(200)["results"])
                all_applied = all_applied and results == Counter({"applied": PUSH_SIZE})
                seconds_all.append(reply.seconds)
                kinds = Counter(mu["name"].split(".")[1] for mu in body["mutations"])  # the same every run
                rows.append(
                    f"| {run} | {PUSH_SIZE} over {len(tech.jobs)} jobs | {dict(results)} "
                    f"| {len(json.dumps(body))} | {reply.statements} | {reply.seconds:.3f} |"
                )
                note(f"push500: run {run}: {reply.seconds:.3f} s, {dict(results)}")
                replay = replay or (body, headers)
            assert replay is not None
            # The same push again, as a device that never heard the answer sends it: every result `duplicate`.
            again = post(app, "/push", replay[0], replay[1])
            replayed = Counter(r["result"] for r in again.expect(200)["results"])
    middle = statistics.median(seconds_all)
    figure.lines += [
        f"Each run: a new technician's device with {PUSH_JOBS} dispatched jobs pushes one batch of {PUSH_SIZE}: "
        f"per job a visit ({', '.join(VISIT)}); mix {dict(kinds)}. After a warm-up push of 20.",
        "",
        "| run | mutations | results | request bytes | SQL statements | seconds |",
        "|--:|---|---|--:|--:|--:|",
        *rows,
        f"| replay of run 1 | {PUSH_SIZE} | {dict(replayed)} | | {again.statements} | {again.seconds:.3f} |",
        "",
        f"Median {middle:.3f} s ({middle / PUSH_SIZE * 1000:.2f} ms a mutation).",
    ]
    figure.checks.append(
        Check(
            f"push of {PUSH_SIZE} mutations (median of {len(seconds_all)})",
            f"{middle:.2f} s, all applied: {'yes' if all_applied else 'no'}",
            "< 2 s, all applied",
            middle < 2.0 and all_applied,
        )
    )
    figure.data = {"seconds": seconds_all, "replay_s": again.seconds, "all_applied": all_applied}
    return figure


# --------------------------------------------------------------------------------------------------------------
# 4. Concurrent pushes against a real server
# --------------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tail(path: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


@contextlib.contextmanager
def serving(url: str, workdir: Path) -> Iterator[Server]:
    """`uvicorn api.app:create_app --factory`, one worker, configured from the environment like production."""
    port = free_port()
    env = os.environ | {
        "DATABASE_URL": url,
        "FIELDWORK_SECRET_KEY": SECRET,
        "FIELDWORK_DATA_DIR": str(workdir / "server-data"),
        "FIELDWORK_PLANNER_WORKERS": "1",
    }
    command = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "warning", "--no-access-log"]
    log = workdir / "uvicorn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise BenchError(f"the server exited with {process.returncode}:\n{tail(log)}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{server.base_url}/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise BenchError(f"the server was not healthy after 60 s:\n{tail(log)}")
            time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Proc:
    name: str
    seconds: float  # user + system, its own
    reaped: float  # user + system of the children it has waited for
    kernel: bool  # a kernel thread (writeback, I/O completion): busy on everyone's behalf


def process_cpu() -> dict[int, Proc]:
    """Every live process's CPU time, from /proc (Linux)."""
    found: dict[int, Proc] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            head, rest = (entry / "stat").read_text().rsplit(")", 1)
        except (OSError, ValueError):
            continue
        fields = rest.split()  # state, ppid, ... utime (11), stime, cutime, cstime
        own, reaped = (sum(int(t) for t in pair) / CLOCK_TICKS for pair in (fields[11:13], fields[13:15]))
        kernel = int(entry.name) == 2 or fields[1] == "2"
        found[int(entry.name)] = Proc(head.split("(", 1)[-1], own, reaped, kernel)
    return found


def machine_busy_s() -> float:
    """CPU seconds the machine spent in processes since boot, all cores: user, nice and system. Interrupts are
    left out: they are mostly this benchmark's own disk and network I/O."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        ticks = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:4]]
        return sum(ticks) / CLOCK_TICKS
    return 0.0


def own_cpu() -> float:
    """This process (every thread) and its children that ended (the uvicorn server once stopped)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def command_of(pid: int, name: str) -> str:
    with contextlib.suppress(OSError):
        words = (Path(f"/proc/{pid}") / "cmdline").read_bytes().split(b"\0")
        return " ".join(w.decode(errors="replace") for w in words if w)[:80] or name
    return name


@dataclass(slots=True)
class CpuWatch:
    """What the rest of the machine did while a figure ran: the client, the server and the database share two
    cores or so, and anything else running (a test suite, a build) shows in the figures."""

    started: float = field(default_factory=time.perf_counter)
    machine: float = field(default_factory=machine_busy_s)
    own: float = field(default_factory=own_cpu)
    processes: dict[int, Proc] = field(default_factory=process_cpu)

    def others(self) -> tuple[float, list[str]]:
        """The share of one core used by other programs: the machine's busy time less this process and its
        children, PostgreSQL (it works for the figures, though it may serve someone else too) and the kernel's
        threads; and the busiest other programs."""
        elapsed = time.perf_counter() - self.started
        if not elapsed:
            return 0.0, []
        machine = machine_busy_s() - self.machine
        ours = own_cpu() - self.own
        spent: list[tuple[float, int, str]] = []
        for pid, proc in process_cpu().items():
            before = self.processes.get(pid)
            # A process that started in the window counts from zero. The postmaster's reaped backends count too
            # (a backend that lived before the window brings its earlier time with it: PostgreSQL errs large).
            grown = proc.seconds - (before.seconds if before else 0.0)
            if proc.name == "postgres":
                grown += proc.reaped - (before.reaped if before else 0.0)
            if proc.kernel or proc.name == "postgres":
                ours += grown
            elif pid != os.getpid() and grown >= 1:
                spent.append((grown, pid, proc.name))
        busiest = [f"{command_of(pid, name)} ({grown:.0f} s)" for grown, pid, name in sorted(spent)[::-1][:3]]
        return max(0.0, machine - ours) / elapsed, busiest


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass(slots=True)
class Phone:
    headers: dict[str, str]
    device_id: str
    batches: list[bytes]


@dataclass(slots=True)
class Load:
    statuses: Counter[int] = field(default_factory=Counter)
    results: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    retries_503: int = 0
    busy_503: int = 0
    transport_errors: int = 0
    timeouts: int = 0
    gave_up: int = 0
    samples: list[str] = field(default_factory=list)
    wall_s: float = 0.0


async def send(
    client: httpx.AsyncClient, path: str, body: bytes, phone: Phone, load: Load
) -> httpx.Response | None:
    """POST with the retries a device makes: after a 503 it waits the Retry-After and sends the same body again
    (a rolled-back batch, the same ids); after no answer at all too (the ids make a repeat harmless)."""
    headers = {**phone.headers, "Content-Type": "application/json"}
    for _ in range(PUSH_ATTEMPTS):
        started = time.perf_counter()
        try:
            response = await client.post(path, content=body, headers=headers)
        except httpx.TimeoutException:
            load.timeouts += 1
            continue
        except httpx.TransportError as exc:
            load.transport_errors += 1
            if len(load.samples) < 5:
                load.samples.append(f"{path}: {exc!r}")
            await asyncio.sleep(1)
            continue
        load.statuses[response.status_code] += 1
        if response.status_code == 503:
            load.retries_503 += 1
            load.busy_503 += "busy" in response.text.lower()
            await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
            continue
        if response.status_code >= 500 and len(load.samples) < 5:
            load.samples.append(f"{path}: {response.status_code} {response.text[:300]}")
        if response.status_code == 200:
            load.latencies.append(time.perf_counter() - started)
        return response
    load.gave_up += 1
    return None


async def work_day(client: httpx.AsyncClient, phone: Phone, load: Load) -> None:
    for body in phone.batches:
        response = await send(client, f"{SYNC}/push", body, phone, load)
        if response is None or response.status_code != 200:
            if response is not None and len(load.samples) < 5:
                load.samples.append(f"push: {response.status_code} {response.text[:300]}")
            return  # the next batch would be a gap: this device stops, as the reference client does
        load.results.update(r["result"] for r in response.json()["results"])


async def drive(base_url: str, phones: list[Phone]) -> Load:
    load = Load()
    limits = httpx.Limits(max_connections=len(phones), max_keepalive_connections=len(phones))
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=REQUEST_TIMEOUT_S) as client:
        registered = await asyncio.gather(
            *(
                send(client, f"{SYNC}/devices", json.dumps(device_body(p.device_id)).encode(), p, load)
                for p in phones
            )
        )
        if any(r is None or r.status_code != 201 for r in registered):
            raise BenchError(f"device registration failed: {[r and r.status_code for r in registered]}")
        load.statuses.clear()
        # Every device starts pushing at the same moment; only the pushes are timed.
        started = time.perf_counter()
        await asyncio.gather(*(work_day(client, p, load) for p in phones))
        load.wall_s = time.perf_counter() - started
    return load


async def seed_concurrent(url: str, devices: int) -> list[Tech]:
    engine = create_engine(url)
    try:
        maker = sessionmaker_for(engine)
        refs = await seed_reference(maker, places=50)
        techs = await add_technicians(maker, refs, [f"tech-{k:03d}" for k in range(devices)])
        for tech in techs:
            await assign_jobs(maker, refs, tech, JOBS_PER_DEVICE, with_evidence=False)
        return techs
    finally:
        await engine.dispose()


async def pushed_results(url: str) -> tuple[Counter[str], int]:
    """What the server recorded: each mutation's result, and the devices' acknowledged ids added up."""
    engine = create_engine(url, poolclass=sa.pool.NullPool)
    try:
        async with engine.connect() as conn:
            stmt = sa.select(m.SyncMutation.result, sa.func.count()).group_by(m.SyncMutation.result)
            results = Counter({str(r): int(n) for r, n in (await conn.execute(stmt)).all()})
            acked = await conn.scalar(sa.select(sa.func.sum(m.SyncDevice.last_mutation_id)))
            return results, int(acked or 0)
    finally:
        await engine.dispose()


def server_problems(log: Path) -> list[str]:
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return [
        line for line in lines if line.startswith(("ERROR", "CRITICAL", "Traceback")) or "deadlock" in line
    ]


def figure_concurrent(target: Target, workdir: Path, args: argparse.Namespace) -> Figure:
    devices: int = args.devices
    expected = devices * BATCHES * BATCH_SIZE
    figure = Figure("concurrent", f"{devices} devices pushing at once at a real server")
    with target.fresh(workdir, "concurrent") as url:
        note(f"concurrent: seeding {devices} technicians with {JOBS_PER_DEVICE} jobs each")
        techs = asyncio.run(seed_concurrent(url, devices))
        target.settle(url)
        settings = bench_settings(url, workdir)
        auth = make_jwt_auth(settings)
        phones = []
        for tech in techs:
            device = str(uuid.uuid4())
            work = Recorder().work(tech.jobs, BATCHES * BATCH_SIZE)
            batches = [work[i : i + BATCH_SIZE] for i in range(0, len(work), BATCH_SIZE)]
            phones.append(
                Phone(
                    {"Authorization": f"Bearer {issue_token(auth, settings, tech.user)}"},
                    device,
                    [json.dumps(push_body(device, b)).encode() for b in batches],
                )
            )
        before = target.deadlocks(url)
        launched = source_fingerprint()
        with serving(url, workdir) as server:
            # The server imports the application when it starts: this is the code it runs (ambiguous if the
            # source changed while it started).
            running = source_fingerprint()
            running = running if running == launched else f"ambiguous ({launched} then {running})"
            note(f"concurrent: server pid {server.process.pid} on {server.base_url}; {expected} mutations")
            cpu_0, client_0 = cpu_seconds(server.process.pid), time.process_time()
            load = asyncio.run(drive(server.base_url, phones))
            cpu_1, client_1 = cpu_seconds(server.process.pid), time.process_time()
        # After the server stopped: its backends have exited, so PostgreSQL has counted whatever they saw.
        after = target.deadlocks(url)
        recorded, acked = asyncio.run(pushed_results(url))
        problems = server_problems(server.log)
    deadlocks = None if before is None or after is None else after - before
    other_5xx = sum(n for status, n in load.statuses.items() if status >= 500 and status != 503)
    applied = load.results["applied"]
    rate = applied / load.wall_s if load.wall_s else 0.0
    latencies = sorted(load.latencies)
    server_cpu = "n/a" if cpu_0 is None or cpu_1 is None else f"{100 * (cpu_1 - cpu_0) / load.wall_s:.0f} %"
    figure.lines += [
        f"{devices} technicians, each with {JOBS_PER_DEVICE} dispatched jobs and a device that pushes {BATCHES} "
        f"batches of {BATCH_SIZE} (visits, then more notes, answers, parts and time), all devices at once over "
        f"keep-alive connections (httpx, asyncio, one process) to one uvicorn worker.",
        "",
        f"- mutations: {expected} sent, {applied} applied ({dict(load.results)}); the server recorded "
        f"{dict(recorded)}, acknowledged ids add up to {acked}",
        f"- wall time of the pushes: {load.wall_s:.2f} s; **{rate:.0f} mutations/s**, "
        f"{len(latencies) / load.wall_s:.1f} pushes/s",
        f"- push latency: p50 {ms(latencies[len(latencies) // 2])}, "
        f"p99 {ms(latencies[int(0.99 * (len(latencies) - 1))])}, max {ms(latencies[-1])}"
        if latencies
        else "- push latency: no push succeeded",
        f"- responses: {dict(sorted(load.statuses.items()))}; 5xx other than 503: {other_5xx}",
        f"- 503 retried after Retry-After: {load.retries_503} ({load.busy_503} 'busy'); no answer: "
        f"{load.transport_errors} transport errors, {load.timeouts} timeouts ({REQUEST_TIMEOUT_S:.0f} s); "
        f"devices that gave up: {load.gave_up}",
        "- deadlocks: "
        + (
            f"{deadlocks} (pg_stat_database.deadlocks of the bench database)"
            if deadlocks is not None
            else "n/a on SQLite (one writer at a time: the server queues its writers; a lock wait past the busy "
            "timeout would be a 503 'busy', counted above)"
        ),
        f"- CPU over the window: server {server_cpu} of one core, load client "
        f"{100 * (client_1 - client_0) / load.wall_s:.0f} % (both share the machine's cores"
        + (" with PostgreSQL)" if target.engine == "postgresql" else ")"),
        f"- server log: {len(problems)} error lines"
        + (f", first: `{problems[0][:200]}`" if problems else ""),
        f"- the server ran application source {running}"
        + ("" if running == STARTED_SOURCE else f", **not the {STARTED_SOURCE} of the in-process figures**"),
    ]
    if load.samples:
        figure.lines += ["", "Samples of failures:", *(f"    {s}" for s in load.samples)]
    complete = applied == expected and recorded == Counter({"applied": expected}) and acked == expected
    figure.checks.append(
        Check(
            f"{devices} devices x {BATCHES} pushes of {BATCH_SIZE}",
            f"{rate:.0f} mutations/s ({load.wall_s:.1f} s), all applied: {'yes' if complete else 'no'}",
            "throughput",
            None,
        )
    )
    figure.checks.append(
        Check(
            "concurrent: 5xx (not retried 503) / deadlocks / gave up",
            f"{other_5xx} / {'n/a' if deadlocks is None else deadlocks} / {load.gave_up} "
            f"({load.retries_503} 503s retried)",
            "0 / 0 / 0",
            other_5xx == 0 and not deadlocks and load.gave_up == 0 and load.timeouts == 0 and complete,
        )
    )
    figure.data = {
        "wall_s": load.wall_s,
        "applied": applied,
        "mutations_per_s": rate,
        "statuses": {str(k): v for k, v in load.statuses.items()},
        "retries_503": load.retries_503,
        "deadlocks": deadlocks,
        "server_log_errors": len(problems),
    }
    return figure


# --------------------------------------------------------------------------------------------------------------
# Orchestration
# --------------------------------------------------------------------------------------------------------------

RUNNERS = {
    "bootstrap": figure_bootstrap,
    "delta": figure_delta,
    "push500": figure_push500,
    "concurrent": figure_concurrent,
}


def shown_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def command_line(args: argparse.Namespace, only: Sequence[str]) -> str:
    """The command that produces these figures (the password of a database URL hidden)."""
    python = Path(sys.executable)
    with contextlib.suppress(ValueError):
        python = python.relative_to(REPO)
    words = [str(python), str(Path(__file__).resolve().relative_to(REPO))]
    if args.database_url:
        words += ["--database-url", shown_url(args.database_url)]
    if args.quick:
        words.append("--quick")
    for option, default in (("big_jobs", None), ("bootstrap_jobs", BOOTSTRAP_JOBS), ("devices", DEVICES)):
        if getattr(args, option) != default:
            words += [f"--{option.replace('_', '-')}", str(getattr(args, option))]
    if list(only) != list(FIGURES):
        words += ["--only", *only]
    return shlex.join(words)


SOURCE_DIRS = ("api", "domain", "sync", "migrations")


def source_fingerprint() -> str:
    """A hash of the application's source as it is on disk now: the figures are of the work tree, which someone
    may be editing while the benchmark runs."""
    digest = hashlib.sha256()
    for path in sorted(p for d in SOURCE_DIRS for p in (REPO / d).rglob("*.py")):
        digest.update(path.relative_to(REPO).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


# Taken once the application is imported (above): the code the in-process figures run, whatever happens on disk.
STARTED_SOURCE = source_fingerprint()


def uncommitted() -> list[str]:
    """The application files that differ from the commit (read-only git)."""
    done = subprocess.run(
        ["git", "status", "--porcelain", "--", *SOURCE_DIRS],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    return [line[3:] for line in done.stdout.splitlines() if line[3:]]


def machine(target: Target) -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "database": target.version(),
        "sqlalchemy": sa.__version__,
        "commit": commit or "unknown",
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server, e.g. postgresql://postgres@127.0.0.1:5432/test: each figure makes a database "
        "with a random name there and drops it (default: temporary SQLite files)",
    )
    parser.add_argument("--only", nargs="+", choices=FIGURES, action="extend", help="run only these figures")
    parser.add_argument(
        "--quick", action="store_true", help=f"delta: {DELTA_QUICK} jobs instead of {DELTA_LARGE}"
    )
    parser.add_argument(
        "--big-jobs", type=int, help="delta: the size of the large database (overrides --quick)"
    )
    parser.add_argument("--bootstrap-jobs", type=int, default=BOOTSTRAP_JOBS, help="bootstrap: the jobs held")
    parser.add_argument("--devices", type=int, default=DEVICES, help="concurrent: devices pushing at once")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    args = parser.parse_args(argv)
    if args.database_url and make_url(args.database_url).get_backend_name() != "postgresql":
        parser.error("--database-url takes a PostgreSQL server; without it the figures run on SQLite files")
    if args.big_jobs is not None and args.big_jobs <= DELTA_SMALL:
        parser.error(f"--big-jobs must be more than {DELTA_SMALL}")
    if args.bootstrap_jobs < 1 or args.devices < 1:
        parser.error("--bootstrap-jobs and --devices must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Litestar sets the root logger to INFO; every request of the test client and every migration would log.
    for name in ("httpx", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    only = [name for name in FIGURES if name in (args.only or FIGURES)]
    target = Target(make_url(args.database_url) if args.database_url else None)
    facts = machine(target)
    print(f"# Offline sync benchmark ({target.engine})\n")
    print(f"Command: `{command_line(args, only)}`\n")
    changed = uncommitted()
    print(
        f"Source: commit {facts['commit']}"
        + (f" with uncommitted changes in {', '.join(changed)}" if changed else "")
        + f"; application source {STARTED_SOURCE}, imported at start and run by the in-process figures (a later "
        "edit does not reach them; the server of `concurrent` imports what is on disk when it starts).\n"
    )
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="fieldwork-bench-sync-") as tmp:
        for number, name in enumerate(only, start=1):
            note(f"== {name} ==")
            started, watch = time.perf_counter(), CpuWatch()
            try:
                figure = RUNNERS[name](target, Path(tmp), args)
            except BenchError as exc:
                print(f"## {number}. {name}: FAILED\n\n{exc}\n", flush=True)
                figures.append(Figure(name, "failed", checks=[Check(name, "failed", "", False)], failed=True))
                continue
            share, busiest = watch.others()
            figure.lines += [
                "",
                f"Other processes used {100 * share:.0f} % of one core while this figure ran"
                + (f" (busiest: {'; '.join(busiest)})" if busiest else "")
                + (
                    ": **the figure is disturbed**, run it again on a quiet machine." if share > 0.15 else "."
                ),
            ]
            figure.data["other_cpu_share"] = share
            figures.append(figure)
            print(f"## {number}. {figure.name}: {figure.title}\n")
            print(f"Command: `{command_line(args, [name])}` ({time.perf_counter() - started:.0f} s in all)\n")
            print("\n".join(figure.lines) + "\n", flush=True)
    print("## Summary\n")
    print("| figure | measured | target | met |")
    print("|---|---|---|---|")
    for figure in figures:
        for check in figure.checks:
            print(f"| {check.label} | {check.value} | {check.target} | {verdict(check.ok)} |")
    print()
    print("| CPU | cores | Python | database | SQLAlchemy | commit |")
    print("|---|--:|---|---|---|---|")
    print(" | ".join(["", *facts.values(), ""]).strip())
    if args.json:
        record = {"command": command_line(args, only), "machine": facts}
        record["figures"] = {f.name: f.data for f in figures}
        args.json.write_text(json.dumps(record, indent=2, default=str) + "\n")
    # A target missed is a figure, not a failure of the script; a figure that could not be measured is one.
    return 1 if any(f.failed for f in figures) else 0


if __name__ == "__main__":
    raise SystemExit(main())
