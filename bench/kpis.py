"""KPI benchmark (issue 7): `kpi_report` over a year of activity of 100 technicians, on PostgreSQL.

Done when computing the KPIs for a year of activity of 100 technicians (about 250,000 jobs) takes under 2 s.

The script makes a database of its own on the PostgreSQL server of `--postgres-url` (the URL's own database is
only used to create and drop it), runs the migrations, and loads a year of synthetic but consistent activity with
COPY (asyncpg's `copy_records_to_table`; every constraint and foreign key is checked):

- 5 territories, 3 in Europe/Paris, 1 in Europe/Lisbon and 1 in America/Toronto, 100 technicians among them;
  8 service types with their prices; 80,000 customers with a site each;
- every technician's working day (Monday to Friday, five weeks of holidays each, Christmas and New Year's Day
  off): a shift of 9.5 hours with a 45-minute break, and the visits that fit into it one after the other, each
  with its travel (time and road metres) from the previous place;
- for each visit, a job with its service request (phone, web, e-mail, chat, app), its priority and SLA deadlines,
  the first response (a confirmed appointment with a 2- or 4-hour window, the job scheduled), the assignment,
  the dispatch in the morning, the status trail en_route, on_site, in_progress, completed and, a day or more
  later, closed, and the completion (arrival, completion time, outcome, time on site, travel); a quarter of the
  visits are worked offline, their moves and completion reaching the server later with the device's times;
- some arrivals are late (after the window), more in Lyon, fewer as the year goes on; some visits need a
  follow-up (a new job with `origin_job_id`, visited a few days later by the same technician); some jobs are
  reopened and visited again (a second completion; the first is superseded); some are cancelled before the visit;
- ratings for about 60 % of the completed jobs, complaints for about 2 % (most resolved, a few still open);
- the two weeks after the period are planned (shifts, booked jobs) but not yet worked.

Then `VACUUM (ANALYZE)`, as autovacuum would leave a settled database; the daily tallies (domain.kpis.store)
counted from nothing, then refreshed with nothing stale, with one more closed day and with a month of one territory
noted stale (each timed); and the measurement: `kpi_report` as an
admin for the whole year (365 days, 52 weeks of trend) and as the dispatcher of one territory (paris-north) for
the last 4 weeks (8 weeks of trend): one warm-up run, then `--runs` runs (5), each in a new session on the same
pooled connection (the app's engine, domain.db); min / median / max, the CPU time of the connection's PostgreSQL
process (when the server is local; its parallel workers' is not in it), the share of a core that other programs
took meanwhile (the machine is shared: a figure taken while something else ran is worth less), and the median time
of each SQL statement of a run. `--explain` adds EXPLAIN (ANALYZE, BUFFERS) of each statement of
`domain.kpis.queries.statements(scope)` and of the percentile statement, for the year; `--set NAME=VALUE` gives
the measured connection a server setting (e.g. `--set jit=off`).

    .venv/bin/python bench/kpis.py                                    # load (a few minutes), measure, drop
    .venv/bin/python bench/kpis.py --keep fieldwork_bench_kpis        # keep the database; a rerun skips the load
    .venv/bin/python bench/kpis.py --keep fieldwork_bench_kpis --explain
    .venv/bin/python bench/kpis.py --postgres-url postgresql://postgres@127.0.0.1:5432/test --runs 9
    .venv/bin/python bench/kpis.py --keep fieldwork_bench_kpis --load-only   # load (or check) only

The data are deterministic for a given `--seed`, `--technicians` and `--end` (the period's last day); a kept
database remembers them (in its comment) and is loaded again only with `--reload`. The results, with the machine,
the versions and the git commit, also go to bench/results/kpis-<UTC time>.json (gitignored).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import datetime as dt
import functools
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker  # noqa: E402
from sqlalchemy.ext.compiler import compiles  # noqa: E402
from sqlalchemy.sql.compiler import SQLCompiler  # noqa: E402
from sqlalchemy.sql.expression import ClauseElement, Executable  # noqa: E402

from domain import migrate  # noqa: E402
from domain.classification import DEFAULT_SLA  # noqa: E402
from domain.db import create_engine  # noqa: E402
from domain.enums import (  # noqa: E402
    AppointmentStatus,
    Channel,
    ComplaintCategory,
    ComplaintStatus,
    CompletionOutcome,
    JobStatus,
    Priority,
    Role,
    SignOff,
)
from domain.kpis import queries, store  # noqa: E402
from domain.kpis.queries import Scope  # noqa: E402
from domain.kpis.report import KpiQuery, KpiReport, kpi_report  # noqa: E402
from domain.principal import Principal  # noqa: E402
from domain.services.complaints import DEFAULT_POLICY  # noqa: E402
from domain.session import AuditedSession  # noqa: E402

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
# A Sunday: the period is the 365 days up to it, and the report is asked for the next morning.
DEFAULT_END = dt.date(2026, 11, 22)
DEFAULT_SEED = 7
DEFAULT_TECHNICIANS = 100
DEFAULT_RUNS = 5
DISPATCHER_TERRITORY = "paris-north"
# Bumped whenever the generated data change, so that a kept database made by an older script is not reused.
DATA_VERSION = 2
TARGET_S = 2.0

MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
SECOND = dt.timedelta(seconds=1)
UTC = dt.UTC
# Days simulated before the period (work received and done before it starts) and after its end (shifts and
# visits booked for the coming weeks, not yet worked).
BEFORE = 28
AFTER = 14
CUSTOMERS_PER_TECHNICIAN = 800
SHIFT_MINUTES = 570
BREAK_S = 45 * 60
COPY_CHUNK = 50_000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

_STARTED = time.perf_counter()


def note(message: str) -> None:
    """Progress on stderr, so that stdout holds only the report."""
    print(f"[{time.perf_counter() - _STARTED:7.1f} s] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------------------
# What the organisation looks like
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TerritorySpec:
    code: str
    name: str
    zone: str
    latitude: float
    longitude: float
    share: int  # of the technicians, in percent
    late: float  # the share of arrivals after their window at the start of the year (a third less at its end)
    mood: float  # added to its customers' ratings (0: average)
    travel_min: float  # mean travel between two places, minutes


TERRITORIES = (
    TerritorySpec("paris-north", "Paris North", "Europe/Paris", 48.93, 2.36, 24, 0.10, 0.0, 11),
    TerritorySpec("paris-south", "Paris South", "Europe/Paris", 48.79, 2.33, 22, 0.09, 0.05, 11),
    TerritorySpec("lyon", "Lyon", "Europe/Paris", 45.76, 4.84, 20, 0.18, -0.25, 13),
    TerritorySpec("lisbon", "Lisbon", "Europe/Lisbon", 38.72, -9.14, 18, 0.12, 0.05, 12),
    TerritorySpec("montreal", "Montreal", "America/Toronto", 45.50, -73.57, 16, 0.11, 0.0, 15),
)


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    code: str
    name: str
    minutes: int  # mean time on site
    price_cents: int
    priority: Priority
    weight: int
    follow_up: float  # the share of first visits that need another
    reopen: float  # the share of jobs reopened after their completion


SERVICES = (
    ServiceSpec("boiler-service", "Boiler service", 30, 12_000, Priority.NORMAL, 20, 0.02, 0.015),
    ServiceSpec("boiler-repair", "Boiler repair", 42, 18_000, Priority.HIGH, 12, 0.12, 0.05),
    ServiceSpec("heat-pump", "Heat pump maintenance", 36, 15_000, Priority.NORMAL, 10, 0.05, 0.03),
    ServiceSpec("air-conditioning", "Air conditioning service", 32, 11_000, Priority.NORMAL, 12, 0.04, 0.02),
    ServiceSpec("leak", "Leak repair", 30, 14_000, Priority.HIGH, 14, 0.07, 0.04),
    ServiceSpec("electrical", "Electrical fault", 34, 16_000, Priority.HIGH, 10, 0.08, 0.04),
    ServiceSpec("water-heater", "Water heater replacement", 50, 22_000, Priority.NORMAL, 8, 0.06, 0.02),
    ServiceSpec("inspection", "Safety inspection", 20, 8_000, Priority.LOW, 14, 0.01, 0.005),
)

CHANNELS = (
    (Channel.PHONE, 38),
    (Channel.WEB, 22),
    (Channel.EMAIL, 14),
    (Channel.CHAT, 12),
    (Channel.APP, 14),
)
# Answered by the office while the customer waits: booked within minutes.
LIVE = frozenset({Channel.PHONE, Channel.CHAT})
SPEED_M_PER_S = 8.5  # about 30 km/h in town, door to door


def new_id(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


@functools.lru_cache(maxsize=8192)
def local_midnight(zone: str, day: dt.date) -> dt.datetime:
    """The UTC moment of `day`'s local midnight at the day's daytime offset: a time of a working day is this plus
    its local hours (summer time starts and ends at night)."""
    offset = dt.datetime.combine(day, dt.time(12), ZoneInfo(zone)).utcoffset()
    assert offset is not None
    return dt.datetime.combine(day, dt.time(), UTC) - offset


def at(zone: str, day: dt.date, minutes: float) -> dt.datetime:
    """Local time `minutes` after midnight on `day`, in UTC, to the second."""
    return local_midnight(zone, day) + dt.timedelta(seconds=round(minutes * 60))


def _cumulative(weights: Iterable[int]) -> list[int]:
    total, found = 0, []
    for weight in weights:
        total += weight
        found.append(total)
    return found


# --------------------------------------------------------------------------------------------------------------
# The simulated year
# --------------------------------------------------------------------------------------------------------------

# to_status, occurred_at (the server's clock), reported_at (the device's, for a move made offline)
Event = tuple[JobStatus, dt.datetime, dt.datetime | None]


@dataclass(slots=True)
class Completion:
    id: uuid.UUID
    technician_id: uuid.UUID
    outcome: CompletionOutcome
    arrived_at: dt.datetime  # the device's clock
    moment: dt.datetime  # the completion on the device's clock
    completed_at: dt.datetime  # the server's clock: later when the visit was worked offline
    on_site_s: int
    travel_s: int
    travel_m: int
    latitude: float
    longitude: float
    sign_off: SignOff
    offline: bool
    follow_up_job_id: uuid.UUID | None = None
    superseded_at: dt.datetime | None = None


@dataclass(slots=True)
class Appointment:
    id: uuid.UUID
    created_at: dt.datetime
    window_start: dt.datetime
    window_end: dt.datetime
    status: AppointmentStatus
    # A reopened job's first appointment is rescheduled when its second visit is booked.
    rescheduled_at: dt.datetime | None = None


@dataclass(slots=True)
class Assignment:
    id: uuid.UUID
    technician_id: uuid.UUID
    created_at: dt.datetime
    planned_start: dt.datetime
    sequence: int = 0
    epoch: int = 1
    updated_at: dt.datetime | None = None
    planned_before: dt.datetime | None = None  # before a reopened job's second visit moved it


@dataclass(slots=True)
class Job:
    id: uuid.UUID
    request_id: uuid.UUID
    customer_id: uuid.UUID
    site_id: uuid.UUID
    latitude: float
    longitude: float
    territory: int
    service: int
    priority: Priority
    channel: Channel
    received_at: dt.datetime  # of its service request (a follow-up shares its origin's)
    created_at: dt.datetime
    origin_id: uuid.UUID | None = None
    events: list[Event] = field(default_factory=list)
    appointments: list[Appointment] = field(default_factory=list)
    assignment: Assignment | None = None
    completions: list[Completion] = field(default_factory=list)
    late: bool = False

    def move(self, status: JobStatus, occurred: dt.datetime, reported: dt.datetime | None = None) -> None:
        self.events.append((status, occurred, reported))


@dataclass(slots=True)
class Pending:
    """A visit waiting for a working day of its technician: a follow-up, or a reopened job's second visit."""

    earliest: dt.date
    kind: str  # "follow_up" or "revisit"
    job: Job
    since: dt.datetime


@dataclass(slots=True)
class Technician:
    id: uuid.UUID
    name: str
    territory: int
    latitude: float
    longitude: float
    days_off: set[dt.date]
    pending: list[Pending] = field(default_factory=list)


@dataclass(slots=True)
class Customer:
    id: uuid.UUID
    site_id: uuid.UUID
    number: int
    latitude: float
    longitude: float
    created_at: dt.datetime


@dataclass(slots=True)
class Rating:
    job: Job
    score: int
    rated_at: dt.datetime


@dataclass(slots=True)
class Complaint:
    id: uuid.UUID
    job: Job
    category: ComplaintCategory
    channel: Channel
    received_at: dt.datetime
    responded_at: dt.datetime | None
    resolved_at: dt.datetime | None
    satisfied: bool | None


@dataclass(slots=True)
class Shift:
    id: uuid.UUID
    technician_id: uuid.UUID
    starts_at: dt.datetime
    ends_at: dt.datetime
    break_id: uuid.UUID
    break_from: dt.datetime
    break_to: dt.datetime


@dataclass(frozen=True, slots=True)
class Params:
    seed: int
    technicians: int
    end: dt.date

    @property
    def start(self) -> dt.date:
        return self.end - dt.timedelta(days=364)

    @property
    def now(self) -> dt.datetime:
        """When the reports are asked for: the morning after the period (UTC), before anyone starts work."""
        return dt.datetime.combine(self.end + DAY, dt.time(6), UTC)

    def label(self) -> str:
        return (
            f"fieldwork bench/kpis.py data v{DATA_VERSION}: seed={self.seed} technicians={self.technicians} "
            f"end={self.end.isoformat()}"
        )


class World:
    """The year, simulated day by day and technician by technician, kept in memory, then copied."""

    def __init__(self, params: Params) -> None:
        self.params = params
        self.now = params.now
        self.rng = random.Random(params.seed)
        self.epoch = dt.datetime.combine(params.start - dt.timedelta(days=BEFORE + 90), dt.time(9), UTC)
        self.territory_ids = [new_id(self.rng) for _ in TERRITORIES]
        self.service_ids = [new_id(self.rng) for _ in SERVICES]
        self.service_weights = _cumulative(s.weight for s in SERVICES)
        self.channel_weights = _cumulative(w for _, w in CHANNELS)
        self.technicians: list[Technician] = []
        self.customers: list[list[Customer]] = [[] for _ in TERRITORIES]
        self.jobs: list[Job] = []
        self.ratings: list[Rating] = []
        self.complaints: list[Complaint] = []
        self.shifts: list[Shift] = []
        self._people()

    def _people(self) -> None:
        rng, n = self.rng, self.params.technicians
        counts = [round(n * t.share / 100) for t in TERRITORIES]
        counts[0] += n - sum(counts)
        first_monday = self.params.start - dt.timedelta(days=BEFORE + self.params.start.weekday())
        weeks = (BEFORE + 365 + AFTER) // 7
        number = customer = 0
        for territory, (spec, count) in enumerate(zip(TERRITORIES, counts, strict=True)):
            for _ in range(count):
                number += 1
                # Five weeks of holidays: a fortnight in the summer, another and a week some time in the year.
                off: set[dt.date] = set()
                for length, low, high in ((14, 30, 38), (14, 0, weeks - 2), (7, 0, weeks - 1)):
                    monday = first_monday + dt.timedelta(weeks=rng.randint(low, high))
                    off.update(monday + dt.timedelta(days=d) for d in range(length))
                self.technicians.append(
                    Technician(
                        new_id(rng),
                        f"Technician {number:03d}",
                        territory,
                        spec.latitude + rng.uniform(-0.12, 0.12),
                        spec.longitude + rng.uniform(-0.12, 0.12),
                        off,
                    )
                )
            for _ in range(count * CUSTOMERS_PER_TECHNICIAN):
                customer += 1
                self.customers[territory].append(
                    Customer(
                        new_id(rng),
                        new_id(rng),
                        customer,
                        spec.latitude + rng.uniform(-0.15, 0.15),
                        spec.longitude + rng.uniform(-0.15, 0.15),
                        self.epoch + rng.uniform(0, 80) * DAY,
                    )
                )

    def _service(self) -> int:
        return bisect.bisect_right(self.service_weights, self.rng.random() * self.service_weights[-1])

    def _channel(self) -> Channel:
        found = bisect.bisect_right(self.channel_weights, self.rng.random() * self.channel_weights[-1])
        return CHANNELS[found][0]

    def _priority(self, service: int) -> Priority:
        draw = self.rng.random()
        if draw < 0.05:
            return Priority.URGENT
        order = [Priority.LOW, Priority.NORMAL, Priority.HIGH]
        usual = order.index(SERVICES[service].priority)
        if draw < 0.13:
            return order[max(0, usual - 1)]
        if draw < 0.20:
            return order[min(2, usual + 1)]
        return order[usual]

    def _progress(self, day: dt.date) -> float:
        """0 at the start of the period, 1 at its end: punctuality and satisfaction improve over the year."""
        return min(1.0, max(0.0, (day - self.params.start).days / 365))

    def simulate(self) -> None:
        first = self.params.start - dt.timedelta(days=BEFORE)
        last = self.params.end + dt.timedelta(days=AFTER)
        years = range(first.year, last.year + 1)
        holidays = {dt.date(y, 12, 25) for y in years} | {dt.date(y, 1, 1) for y in years}
        day = first
        while day <= last:
            if day.weekday() < 5 and day not in holidays:
                for technician in self.technicians:
                    if day not in technician.days_off:
                        self._day(technician, day)
            day += DAY

    def _day(self, tech: Technician, day: dt.date) -> None:
        rng, spec = self.rng, TERRITORIES[tech.territory]
        zone = spec.zone
        begins = rng.choice((450, 480, 480, 510))  # 07:30, 08:00 or 08:30
        shift_start, shift_end = at(zone, day, begins), at(zone, day, begins + SHIFT_MINUTES)
        self.shifts.append(
            Shift(
                new_id(rng),
                tech.id,
                shift_start,
                shift_end,
                new_id(rng),
                at(zone, day, 12 * 60),
                at(zone, day, 14 * 60),
            )
        )
        due = [p for p in tech.pending if p.earliest <= day][:3]
        for p in due:
            tech.pending.remove(p)
        clock, place, sequence = shift_start, (tech.latitude, tech.longitude), 0
        lunch: dt.datetime | None = at(zone, day, 12 * 60 + rng.uniform(0, 60))
        while True:
            if lunch is not None and clock >= lunch:
                clock, lunch = clock + BREAK_S * SECOND, None
            pending = due[0] if due else None
            service = pending.job.service if pending else self._service()
            on_site_s = max(600, round(rng.lognormvariate(math.log(SERVICES[service].minutes * 60), 0.35)))
            travel_s = max(180, round(rng.lognormvariate(math.log(spec.travel_min * 60), 0.5)))
            if clock + (travel_s + on_site_s) * SECOND > shift_end + 15 * MINUTE:
                break
            arrival = clock + travel_s * SECOND
            clock = arrival + on_site_s * SECOND
            if pending is None:
                job = self._new_job(tech, day, service, arrival)
                if job is None:  # received after the report is asked for: not in the database yet
                    continue
                kind = "new"
            else:
                due.pop(0)
                job, kind = pending.job, pending.kind
                if pending.since + MINUTE >= self.now:
                    continue  # booked after the report: not yet
                booked = pending.since + rng.uniform(10, 180 if kind == "follow_up" else 240) * MINUTE
                self._book(job, tech, day, booked, arrival, again=kind == "revisit")
            sequence += 1
            if job.assignment is not None and not job.completions:
                job.assignment.sequence = sequence
            if arrival - travel_s * SECOND >= self.now:
                continue  # booked, not yet worked
            completion = self._visit(tech, job, day, arrival, travel_s, on_site_s, place)
            place = (job.latitude, job.longitude)
            self._after(tech, job, day, completion, kind)
        for p in due:  # what did not fit waits for the next working day
            p.earliest = day + DAY
            tech.pending.append(p)
        if rng.random() < 0.42:
            self._cancelled(tech, day)

    def _new_job(self, tech: Technician, day: dt.date, service: int, arrival: dt.datetime) -> Job | None:
        rng, zone = self.rng, TERRITORIES[tech.territory].zone
        priority = self._priority(service)
        channel = self._channel()
        live = channel in LIVE
        if priority is Priority.URGENT:
            received = arrival - rng.uniform(50, 240) * MINUTE
        else:
            lead = {
                Priority.HIGH: rng.randint(0, 2),
                Priority.NORMAL: rng.randint(1, 8),
                Priority.LOW: rng.randint(3, 20),
            }[priority]
            minutes = rng.uniform(8 * 60, 19 * 60) if live else rng.uniform(6 * 60, 23.5 * 60)
            received = at(zone, day - lead * DAY, minutes)
            if received > arrival - 90 * MINUTE:
                received = arrival - rng.uniform(90, 240) * MINUTE
        if received >= self.now:
            return None
        customer = rng.choice(self.customers[tech.territory])
        job = Job(
            new_id(rng),
            new_id(rng),
            customer.id,
            customer.site_id,
            customer.latitude,
            customer.longitude,
            tech.territory,
            service,
            priority,
            channel,
            received,
            received + rng.randint(1, 20) * SECOND,
        )
        job.move(JobStatus.NEW, job.created_at)
        self.jobs.append(job)
        # The first response: booked on the call, or answered later from the queue (a few far too late).
        if priority is Priority.URGENT:
            delay = rng.uniform(2, 40) * MINUTE
        elif live:
            delay = rng.uniform(1, 20) * MINUTE if rng.random() < 0.9 else rng.uniform(60, 360) * MINUTE
        else:
            draw = rng.random()
            if draw < 0.70:
                delay = rng.uniform(20, 240) * MINUTE
            elif draw < 0.96:
                delay = rng.uniform(4 * 60, 24 * 60) * MINUTE
            else:
                delay = rng.uniform(24 * 60, 60 * 60) * MINUTE
        if job.created_at + delay >= self.now:
            return job  # not answered yet
        self._book(job, tech, day, job.created_at + delay, arrival)
        return job

    def _book(
        self,
        job: Job,
        tech: Technician,
        day: dt.date,
        when: dt.datetime,
        arrival: dt.datetime,
        *,
        again: bool = False,
    ) -> None:
        """The job scheduled at `when` (at the latest before the morning's dispatch, or 40 minutes before a
        same-day arrival) into a window of `day` around `arrival` (one that ends before it, for a late arrival)."""
        rng, spec = self.rng, TERRITORIES[tech.territory]
        morning = at(spec.zone, day, 7 * 60)
        latest = morning if job.created_at < morning - HOUR else arrival - 40 * MINUTE
        when = max(min(when, latest), job.events[-1][1] + MINUTE)
        job.move(JobStatus.SCHEDULED, when)
        width = 120 if rng.random() < 0.6 else 240
        late = rng.random() < spec.late * (1 - self._progress(day) / 3)
        if late:
            window_end = arrival - rng.uniform(5, 50) * MINUTE
            window_start = window_end - width * MINUTE
        else:
            raw = arrival - rng.uniform(10, width - 40) * MINUTE
            window_start = raw.replace(minute=0 if raw.minute < 30 else 30, second=0)
            window_end = window_start + width * MINUTE
        if again and job.appointments and job.assignment is not None:
            # A reopened job's second visit: a new window; the first is rescheduled, the assignment moves.
            job.appointments[-1].status = AppointmentStatus.RESCHEDULED
            job.appointments[-1].rescheduled_at = when
            moved = job.assignment
            moved.planned_before, moved.planned_start, moved.epoch, moved.updated_at = (
                moved.planned_start,
                arrival,
                2,
                when,
            )
        else:
            job.late = late
            job.assignment = Assignment(new_id(rng), tech.id, when, arrival)
        job.appointments.append(
            Appointment(new_id(rng), when, window_start, window_end, AppointmentStatus.CONFIRMED)
        )

    def _visit(
        self,
        tech: Technician,
        job: Job,
        day: dt.date,
        arrival: dt.datetime,
        travel_s: int,
        on_site_s: int,
        place: tuple[float, float],
    ) -> Completion:
        rng, zone = self.rng, TERRITORIES[tech.territory].zone
        set_out = arrival - travel_s * SECOND
        dispatched = max(
            min(at(zone, day, rng.uniform(7 * 60, 7 * 60 + 20)), set_out - MINUTE), job.events[-1][1]
        )
        dispatched += SECOND
        set_out = max(set_out, dispatched + MINUTE)
        started = arrival + rng.uniform(1, 4) * MINUTE
        done = arrival + on_site_s * SECOND
        offline = rng.random() < 0.25
        synced = done + rng.uniform(5, 90) * MINUTE
        job.move(JobStatus.DISPATCHED, dispatched)
        for status, moment in (
            (JobStatus.EN_ROUTE, set_out),
            (JobStatus.ON_SITE, arrival),
            (JobStatus.IN_PROGRESS, started),
            (JobStatus.COMPLETED, done),
        ):
            # Offline, the moves reach the server together, with the device's times; online they are live.
            job.move(status, synced if offline else moment, moment if offline else None)
        spec = SERVICES[job.service]
        first_visit = job.origin_id is None and not job.completions
        follow_up = first_visit and rng.random() < spec.follow_up
        straight_m = math.dist(place, (job.latitude, job.longitude)) * 111_000
        travel_m = max(round(straight_m * 1.3), round(travel_s * SPEED_M_PER_S * rng.uniform(0.7, 1.1)))
        completion = Completion(
            new_id(rng),
            tech.id,
            CompletionOutcome.FOLLOW_UP if follow_up else CompletionOutcome.FIXED,
            arrival,
            done,
            synced if offline else done + rng.randint(0, 3) * SECOND,
            on_site_s,
            round((arrival - set_out).total_seconds()),
            travel_m,
            job.latitude + rng.uniform(-0.0003, 0.0003),
            job.longitude + rng.uniform(-0.0003, 0.0003),
            SignOff.NOT_REQUIRED if spec.code == "inspection" else SignOff.ON_SITE,
            offline,
        )
        if job.completions:
            job.completions[-1].superseded_at = completion.completed_at
        job.completions.append(completion)
        return completion

    def _after(self, tech: Technician, job: Job, day: dt.date, completion: Completion, kind: str) -> None:
        """What follows a visit: a follow-up job, the closing, a reopening, and the customer's rating or
        complaint (after the visit that settles the job)."""
        rng = self.rng
        if completion.outcome is CompletionOutcome.FOLLOW_UP:
            created = completion.completed_at + rng.randint(1, 30) * SECOND
            if created < self.now:
                follow = Job(
                    new_id(rng),
                    job.request_id,
                    job.customer_id,
                    job.site_id,
                    job.latitude,
                    job.longitude,
                    job.territory,
                    job.service,
                    job.priority,
                    job.channel,
                    job.received_at,
                    created,
                    origin_id=job.id,
                )
                follow.move(JobStatus.NEW, created)
                self.jobs.append(follow)
                completion.follow_up_job_id = follow.id
                tech.pending.append(Pending(day + rng.randint(2, 8) * DAY, "follow_up", follow, created))
        closes = completion.completed_at + rng.uniform(20, 96) * HOUR
        reopens = completion.completed_at + rng.uniform(1, 12) * DAY
        reopened = (
            kind != "revisit"
            and completion.outcome is CompletionOutcome.FIXED
            and rng.random() < SERVICES[job.service].reopen
        )
        if not reopened or closes < reopens:
            job.move(JobStatus.CLOSED, closes)
        if reopened:
            job.move(JobStatus.REOPENED, reopens)
            local = reopens.astimezone(ZoneInfo(TERRITORIES[tech.territory].zone)).date()
            tech.pending.append(Pending(local + DAY, "revisit", job, reopens))
        else:
            self._feedback(tech, job, completion)

    def _feedback(self, tech: Technician, job: Job, completion: Completion) -> None:
        rng, spec = self.rng, TERRITORIES[tech.territory]
        troubled = job.late or len(job.completions) > 1 or job.origin_id is not None
        if rng.random() < 0.6:
            mood = spec.mood + 0.3 * self._progress(completion.moment.date()) - (0.8 if troubled else 0.0)
            score = min(5, max(1, round(rng.gauss(4.0 + mood, 0.9))))
            self.ratings.append(Rating(job, score, completion.moment + rng.uniform(0.3, 72) * HOUR))
        if rng.random() < (0.05 if troubled else 0.015):
            category = rng.choices(
                (ComplaintCategory.SERVICE, ComplaintCategory.TECHNICAL, ComplaintCategory.BILLING), (5, 4, 1)
            )[0]
            terms = DEFAULT_POLICY[category]
            received = completion.moment + rng.uniform(1, 14) * DAY
            responded = received + rng.uniform(0.05, 1.2) * terms.respond_within_s * SECOND
            resolved = (
                received + rng.uniform(0.1, 1.3) * terms.resolve_within_s * SECOND
                if rng.random() < 0.92
                else None
            )
            self.complaints.append(
                Complaint(
                    new_id(rng),
                    job,
                    category,
                    rng.choice((Channel.PHONE, Channel.EMAIL, Channel.WEB)),
                    received,
                    responded,
                    resolved,
                    rng.random() < 0.85 if resolved is not None else None,
                )
            )

    def _cancelled(self, tech: Technician, day: dt.date) -> None:
        """A job booked for a later day and cancelled before it (or before it was ever booked)."""
        rng, zone = self.rng, TERRITORIES[tech.territory].zone
        service = self._service()
        customer = rng.choice(self.customers[tech.territory])
        received = at(zone, day, rng.uniform(8 * 60, 19 * 60))
        if received >= self.now:
            return
        job = Job(
            new_id(rng),
            new_id(rng),
            customer.id,
            customer.site_id,
            customer.latitude,
            customer.longitude,
            tech.territory,
            service,
            self._priority(service),
            self._channel(),
            received,
            received + rng.randint(1, 20) * SECOND,
        )
        job.move(JobStatus.NEW, job.created_at)
        cancelled = job.created_at + rng.uniform(1, 96) * HOUR
        if rng.random() < 0.7:
            booked = job.created_at + rng.uniform(2, 50) * MINUTE
            job.move(JobStatus.SCHEDULED, booked)
            start = at(zone, (cancelled + 2 * DAY).date(), rng.choice((8, 10, 12, 14)) * 60)
            job.appointments.append(
                Appointment(new_id(rng), booked, start, start + 2 * HOUR, AppointmentStatus.CANCELLED)
            )
        job.move(JobStatus.CANCELLED, cancelled)
        self.jobs.append(job)


# --------------------------------------------------------------------------------------------------------------
# Rows: what the world looks like in the tables, as of the report's `now`
# --------------------------------------------------------------------------------------------------------------

Record = tuple[Any, ...]
_EMPTY = "[]"


def _audit(created: dt.datetime, updated: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    return created, updated or created


def territory_rows(w: World) -> Iterator[Record]:
    for tid, spec in zip(w.territory_ids, TERRITORIES, strict=True):
        yield (tid, spec.code, spec.name, spec.zone, spec.latitude, spec.longitude, *_audit(w.epoch))


def service_type_rows(w: World) -> Iterator[Record]:
    for sid, spec in zip(w.service_ids, SERVICES, strict=True):
        yield (
            sid,
            spec.code,
            spec.name,
            spec.minutes * 60,
            spec.priority.value,
            _EMPTY,
            _EMPTY,
            _EMPTY,
            _EMPTY,
            spec.code != "inspection",
            spec.price_cents,
            *_audit(w.epoch),
        )


def technician_rows(w: World) -> Iterator[Record]:
    for k, t in enumerate(w.technicians):
        yield (
            t.id,
            t.name,
            f"tech{k:03d}@bench.example.com",
            f"+331{k:08d}",
            w.territory_ids[t.territory],
            None,
            t.latitude,
            t.longitude,
            True,
            *_audit(w.epoch),
        )


def customer_rows(w: World) -> Iterator[Record]:
    for pool in w.customers:
        for c in pool:
            yield (
                c.id,
                f"Customer {c.number:06d}",
                f"customer{c.number:06d}@bench.example.com",
                f"+336{c.number:08d}",
                c.number % 3 == 0,
                False,
                False,
                *_audit(c.created_at),
            )


def site_rows(w: World) -> Iterator[Record]:
    for territory, pool in enumerate(w.customers):
        for c in pool:
            yield (
                c.site_id,
                c.id,
                w.territory_ids[territory],
                f"{c.number % 200 + 1} rue du Banc d'Essai",
                c.latitude,
                c.longitude,
                None,
                *_audit(c.created_at),
            )


def shift_rows(w: World) -> Iterator[Record]:
    for s in w.shifts:
        created = s.starts_at - 21 * DAY
        yield (s.id, s.technician_id, s.starts_at, s.ends_at, *_audit(created))


def shift_break_rows(w: World) -> Iterator[Record]:
    for s in w.shifts:
        created = s.starts_at - 21 * DAY
        yield (s.break_id, s.id, s.break_from, s.break_to, BREAK_S, *_audit(created))


def request_rows(w: World) -> Iterator[Record]:
    for job in w.jobs:
        if job.origin_id is None:
            yield (
                job.request_id,
                job.channel.value,
                job.customer_id,
                job.site_id,
                f"{SERVICES[job.service].name} needed",
                job.received_at,
                None,
                *_audit(job.received_at),
            )


def _events(w: World, job: Job) -> list[Event]:
    """The job's moves made before the report, oldest first (offline moves arrive together, in their order)."""
    return sorted((e for e in job.events if e[1] < w.now), key=lambda e: e[1])


def job_rows(w: World) -> Iterator[Record]:
    for job in w.jobs:
        events = _events(w, job)
        spec = SERVICES[job.service]
        terms = DEFAULT_SLA[job.priority]
        yield (
            job.id,
            job.request_id,
            job.customer_id,
            job.site_id,
            w.territory_ids[job.territory],
            w.service_ids[job.service],
            events[-1][0].value,
            job.priority.value,
            spec.name if job.origin_id is None else f"Follow-up: {spec.name}",
            spec.minutes * 60,
            job.created_at + terms.respond_within_s * SECOND,
            job.created_at + terms.resolve_within_s * SECOND,
            _EMPTY,
            _EMPTY,
            _EMPTY,
            _EMPTY,
            job.origin_id,
            "follow_up" if job.origin_id is not None else None,
            0 if job.origin_id is not None else spec.price_cents,
            len(events),
            *_audit(job.created_at, events[-1][1]),
        )


def event_rows(w: World) -> Iterator[Record]:
    rng = random.Random(w.params.seed + 1)
    for job in w.jobs:
        before: JobStatus | None = None
        for status, occurred, reported in _events(w, job):
            yield (
                new_id(rng),
                job.id,
                before.value if before else None,
                status.value,
                occurred,
                reported,
                occurred,
                occurred,
            )
            before = status


def appointment_rows(w: World) -> Iterator[Record]:
    for job in w.jobs:
        for a in job.appointments:
            if a.created_at >= w.now:
                continue
            if a.rescheduled_at is not None and a.rescheduled_at < w.now:
                yield (
                    a.id,
                    job.id,
                    a.window_start,
                    a.window_end,
                    a.status.value,
                    *_audit(a.created_at, a.rescheduled_at),
                )
            else:
                confirmed = AppointmentStatus.CONFIRMED if a.rescheduled_at is not None else a.status
                yield (a.id, job.id, a.window_start, a.window_end, confirmed.value, *_audit(a.created_at))


def assignment_rows(w: World) -> Iterator[Record]:
    for job in w.jobs:
        a = job.assignment
        if a is None or a.created_at >= w.now:
            continue
        if a.updated_at is not None and a.updated_at < w.now:
            yield (
                a.id,
                job.id,
                a.technician_id,
                a.planned_start,
                a.sequence,
                a.epoch,
                *_audit(a.created_at, a.updated_at),
            )
        else:
            planned = a.planned_before or a.planned_start
            yield (a.id, job.id, a.technician_id, planned, a.sequence, 1, *_audit(a.created_at))


def _kept(w: World, job: Job) -> list[Completion]:
    return [c for c in job.completions if c.completed_at < w.now]


def completion_rows(w: World) -> Iterator[Record]:
    kept_jobs = {job.id for job in w.jobs}
    for job in w.jobs:
        for c in _kept(w, job):
            superseded = c.superseded_at if c.superseded_at is not None and c.superseded_at < w.now else None
            follow = c.follow_up_job_id if c.follow_up_job_id in kept_jobs else None
            yield (
                c.id,
                job.id,
                c.technician_id,
                superseded,
                c.outcome.value,
                "The part has to be ordered" if c.outcome is CompletionOutcome.FOLLOW_UP else None,
                None,
                c.completed_at,
                c.moment if c.offline else None,
                c.latitude,
                c.longitude,
                c.arrived_at,
                c.on_site_s,
                c.travel_s,
                c.travel_m,
                c.sign_off.value,
                follow,
                *_audit(c.completed_at, superseded),
            )


def rating_rows(w: World) -> Iterator[Record]:
    rng = random.Random(w.params.seed + 2)
    for r in w.ratings:
        if r.rated_at < w.now:
            yield (new_id(rng), r.job.id, r.job.customer_id, r.score, None, r.rated_at, *_audit(r.rated_at))


def complaint_rows(w: World) -> Iterator[Record]:
    for c in w.complaints:
        if c.received_at >= w.now:
            continue
        terms = DEFAULT_POLICY[c.category]
        responded = c.responded_at if c.responded_at and c.responded_at < w.now else None
        resolved = c.resolved_at if c.resolved_at and c.resolved_at < w.now else None
        satisfied = c.satisfied if resolved is not None else None
        if resolved is not None:
            status = ComplaintStatus.CLOSED if satisfied else ComplaintStatus.RESOLVED
        else:
            status = ComplaintStatus.IN_PROGRESS if responded is not None else ComplaintStatus.OPEN
        yield (
            c.id,
            c.job.customer_id,
            c.job.id,
            w.territory_ids[c.job.territory],
            c.category.value,
            c.channel.value,
            "The work was not done as promised",
            status.value,
            None,
            c.received_at,
            c.received_at + terms.respond_within_s * SECOND,
            c.received_at + terms.resolve_within_s * SECOND,
            responded,
            resolved,
            "Settled with the customer" if resolved is not None else None,
            satisfied,
            0,
            None,
            1,
            *_audit(c.received_at, resolved or responded),
        )


AUDIT = ("created_at", "updated_at")
# Parents before children: every foreign key is checked as the rows arrive.
TABLES: tuple[tuple[str, tuple[str, ...], Callable[[World], Iterator[Record]]], ...] = tuple(
    (name, tuple(columns.split()), rows)
    for name, columns, rows in (
        ("territories", "id code name timezone center_latitude center_longitude", territory_rows),
        (
            "service_types",
            "id code name default_duration_s default_priority checklist parts tools keywords requires_signature "
            "price_cents",
            service_type_rows,
        ),
        (
            "technicians",
            "id name email phone territory_id home_address home_latitude home_longitude active",
            technician_rows,
        ),
        ("customers", "id name email phone consent_to_messages email_opt_out sms_opt_out", customer_rows),
        ("sites", "id customer_id territory_id address latitude longitude access_notes", site_rows),
        ("shifts", "id technician_id starts_at ends_at", shift_rows),
        ("shift_breaks", "id shift_id earliest_start latest_end duration_s", shift_break_rows),
        (
            "service_requests",
            "id channel customer_id site_id description received_at taken_by_user_id",
            request_rows,
        ),
        (
            "jobs",
            "id service_request_id customer_id site_id territory_id service_type_id status priority description "
            "duration_s respond_by resolve_by checklist parts tools suggested_service_type_codes origin_job_id "
            "origin_kind value_cents version",
            job_rows,
        ),
        ("job_status_events", "id job_id from_status to_status occurred_at reported_at", event_rows),
        ("appointments", "id job_id window_start window_end status", appointment_rows),
        ("assignments", "id job_id technician_id planned_start sequence epoch", assignment_rows),
        (
            "job_completions",
            "id job_id technician_id superseded_at outcome follow_up_reason summary completed_at reported_at "
            "latitude longitude arrived_at on_site_s travel_s travel_m sign_off follow_up_job_id",
            completion_rows,
        ),
        ("ratings", "id job_id customer_id score comment rated_at", rating_rows),
        (
            "complaints",
            "id customer_id job_id territory_id category channel description status owner_user_id received_at "
            "respond_by resolve_by responded_at resolved_at resolution customer_satisfied reopen_count "
            "rework_job_id version",
            complaint_rows,
        ),
    )
)
LOADED_TABLES = tuple(name for name, _, _ in TABLES)


# --------------------------------------------------------------------------------------------------------------
# The database
# --------------------------------------------------------------------------------------------------------------


def _dsn(url: sa.URL, database: str | None = None) -> str:
    """A plain `postgresql://` DSN for asyncpg and the migrations, on `database` or the URL's own."""
    target = url.set(drivername="postgresql")
    if database is not None:
        target = target.set(database=database)
    return target.render_as_string(hide_password=False)


async def _connect(dsn: str) -> Any:
    import asyncpg  # type: ignore[import-untyped]

    return await asyncpg.connect(dsn, timeout=10)


async def _one(dsn: str, sql: str, *args: Any) -> Any:
    """One statement on a connection of its own (CREATE/DROP DATABASE and VACUUM refuse transactions); the first
    column of its first row."""
    conn = await _connect(dsn)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def load(dsn: str, params: Params) -> dict[str, float]:
    """Simulate the year and copy it in; the seconds each step took."""
    took: dict[str, float] = {}
    started = time.perf_counter()
    world = World(params)
    world.simulate()
    took["simulate"] = time.perf_counter() - started
    note(
        f"simulated: {len(world.jobs):,} jobs, {len(world.shifts):,} shifts in {took['simulate']:.0f} s; copying"
    )
    conn = await _connect(dsn)
    try:
        for name, columns, rows in TABLES:
            began = time.perf_counter()
            count = 0
            chunk: list[Record] = []
            for record in rows(world):
                chunk.append(record)
                if len(chunk) >= COPY_CHUNK:
                    await conn.copy_records_to_table(name, records=chunk, columns=[*columns, *AUDIT])
                    count += len(chunk)
                    chunk = []
            if chunk:
                await conn.copy_records_to_table(name, records=chunk, columns=[*columns, *AUDIT])
                count += len(chunk)
            took[name] = time.perf_counter() - began
            note(f"  {name}: {count:,} rows in {took[name]:.1f} s")
    finally:
        await conn.close()
    began = time.perf_counter()
    await _one(dsn, "VACUUM (ANALYZE)")
    took["vacuum_analyze"] = time.perf_counter() - began
    note(f"VACUUM (ANALYZE) in {took['vacuum_analyze']:.1f} s")
    return took


@contextlib.asynccontextmanager
async def database(
    base: sa.URL, params: Params, keep: str | None, reload: bool
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """The loaded database's DSN, and how it came to be; a kept one is reused when its data are these params'."""
    admin = _dsn(base)
    name = keep or f"fieldwork_bench_kpis_{uuid.uuid4().hex[:10]}"
    dsn = _dsn(base, name)
    exists = await _one(admin, "SELECT count(*) FROM pg_database WHERE datname = $1", name)
    label = None
    if exists:
        label = await _one(
            admin, "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1", name
        )
        if label != params.label() and not reload:
            raise SystemExit(
                f"database {name} holds other data ({label or 'none recorded'}), not {params.label()}: "
                "pass --reload to drop it and load again, or another --keep name"
            )
    how: dict[str, Any] = {"database": name, "kept": keep is not None}
    if exists and label == params.label() and not reload:
        note(f"reusing database {name} ({label})")
        how["loaded"] = "reused"
    else:
        if exists:
            await _one(admin, f"DROP DATABASE {_quoted(name)} WITH (FORCE)")
        await _one(admin, f"CREATE DATABASE {_quoted(name)}")
        note(f"database {name} created; migrating")
        began = time.perf_counter()
        await asyncio.to_thread(migrate.upgrade, dsn)
        how["migrate_s"] = time.perf_counter() - began
        how["load_s"] = await load(dsn, params)
        await _one(dsn, f"COMMENT ON DATABASE {_quoted(name)} IS '{params.label()}'")
        how["loaded"] = "now"
    try:
        yield dsn, how
    finally:
        if keep is None:
            await _one(admin, f"DROP DATABASE IF EXISTS {_quoted(name)} WITH (FORCE)")
            note(f"database {name} dropped")


# --------------------------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------------------------


class Explain(Executable, ClauseElement):
    """`EXPLAIN (ANALYZE, BUFFERS) <statement>`, the statement compiled as the app's is, its parameters bound by
    their own types (SQLAlchemy's recipe, as in bench/offline_sync.py)."""

    inherit_cache = False

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement


@compiles(Explain)
def _compile_explain(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    sql = "EXPLAIN (ANALYZE, BUFFERS) " + str(compiler.process(element.statement, **kw))
    compiler._result_columns = []  # the plan's rows are text, not the statement's columns
    return sql


# Each statement of a report, named by a column only it selects.
_LABELS = (
    ("percentile_disc", "p90 of response times"),
    ("AS r_all", "p90 of response times"),
    ("FROM kpi_days", "stored days (daily tallies)"),
    ("FROM kpi_technician_days", "stored days (daily tallies)"),
    ("AS ratings", "ratings"),
    ("AS fast_responses", "response times"),
    ("respond_by AS at", "deadlines: respond"),
    ("resolve_by AS at", "deadlines: resolve"),
    ("AS jobs_completed", "completed jobs"),
    ("AS visits", "visits"),
    ("AS arrivals", "arrivals"),
    ("AS complaints_resolved", "complaints resolved"),
    ("AS complaints", "complaints received"),
    ("AS shift_s", "shifts"),
)


def statement_label(sql: str) -> str:
    for marker, label in _LABELS:
        if marker in sql:
            return label
    return "other (settings, filters, names)"


@dataclass(slots=True)
class StatementClock:
    """Times every SQL statement on the engine (execution and fetch of every row), by label."""

    spent: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    started: dict[int, float] = field(default_factory=dict)

    def attach(self, engine: AsyncEngine) -> None:
        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            self.started[id(cursor)] = time.perf_counter()

        @event.listens_for(engine.sync_engine, "after_cursor_execute")
        def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            began = self.started.pop(id(cursor), None)
            if began is not None:
                self.spent[statement_label(statement)] += time.perf_counter() - began

    def take(self) -> dict[str, float]:
        found, self.spent = dict(self.spent), defaultdict(float)
        return found


@dataclass(frozen=True, slots=True)
class View:
    key: str
    title: str
    principal: Principal
    query: KpiQuery


@dataclass(slots=True)
class Measured:
    view: View
    warmup_s: float
    runs_s: list[float]
    statements_s: dict[str, list[float]]
    backend_cpu_s: list[float]  # the connection's PostgreSQL process, when local (not its parallel workers)
    other_cpu: float
    busiest: list[str]
    report: KpiReport
    scope: Scope

    @property
    def median(self) -> float:
        return statistics.median(self.runs_s)


# -- how busy the rest of the machine was ----------------------------------------------------------------------


def _machine_busy_s() -> float:
    with contextlib.suppress(OSError, ValueError, IndexError):
        ticks = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:4]]
        return sum(ticks) / CLOCK_TICKS
    return 0.0


def _process_cpu() -> dict[int, tuple[str, float, float, bool]]:
    """Every live process: name, own user + system seconds, its reaped children's, and whether a kernel thread."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            head, rest = (entry / "stat").read_text().rsplit(")", 1)
        except (OSError, ValueError):
            continue
        fields = rest.split()
        own = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        reaped = (int(fields[13]) + int(fields[14])) / CLOCK_TICKS
        found[int(entry.name)] = (head.split("(", 1)[-1], own, reaped, entry.name == "2" or fields[1] == "2")
    return found


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a local process, from /proc (Linux); None for a remote server."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass(slots=True)
class CpuWatch:
    """The share of one core that programs other than this one, PostgreSQL and the kernel used meanwhile: the
    figures are only as good as the machine was quiet. (PostgreSQL's time counts as ours, though another program's
    queries may be in it.)"""

    started: float = field(default_factory=time.perf_counter)
    machine: float = field(default_factory=_machine_busy_s)
    own: float = field(default_factory=lambda: sum(os.times()[:4]))
    processes: dict[int, tuple[str, float, float, bool]] = field(default_factory=_process_cpu)

    def others(self) -> tuple[float, list[str]]:
        elapsed = time.perf_counter() - self.started
        machine = _machine_busy_s() - self.machine
        ours = sum(os.times()[:4]) - self.own
        spent = []
        for pid, (name, own, reaped, kernel) in _process_cpu().items():
            before = self.processes.get(pid)
            grown = own - (before[1] if before else 0.0)
            if name == "postgres":
                grown += reaped - (before[2] if before else 0.0)
            if kernel or name == "postgres":
                ours += grown
            elif pid != os.getpid() and grown >= 0.5:
                spent.append((grown, name))
        busiest = [f"{name} ({grown:.0f} s)" for grown, name in sorted(spent, reverse=True)[:3]]
        return (max(0.0, machine - ours) / elapsed if elapsed else 0.0), busiest


@contextlib.contextmanager
def capture_scope(found: list[Scope]) -> Iterator[None]:
    """Keeps the scope kpi_report builds (the one its statements run with), for --explain."""
    original = queries.tallies

    async def tallies(session: AsyncSession, scope: Scope) -> Any:
        found.append(scope)
        return await original(session, scope)

    setattr(queries, "tallies", tallies)  # noqa: B010 - a module function, replaced for the run
    try:
        yield
    finally:
        setattr(queries, "tallies", original)  # noqa: B010


async def _timed_refresh(
    maker: async_sessionmaker[AsyncSession], now: dt.datetime, before: str = ""
) -> float:
    async with maker() as session:
        if before:
            await session.execute(sa.text(before))
        began = time.perf_counter()
        await store.refresh_now(session, now)
        took = time.perf_counter() - began
        await session.commit()
    return took


async def fill_store(
    maker: async_sessionmaker[AsyncSession], now: dt.datetime, territory: uuid.UUID
) -> dict[str, float]:
    """The daily tallies (domain.kpis.store): counted from nothing, then what keeping them costs."""
    took: dict[str, float] = {}
    took["build_s"] = await _timed_refresh(maker, now, "DELETE FROM kpi_store")
    note(f"daily tallies counted from nothing in {took['build_s']:.1f} s")
    took["nothing_stale_s"] = await _timed_refresh(maker, now)
    took["one_new_day_s"] = await _timed_refresh(
        maker, now, "UPDATE kpi_store SET filled_until = filled_until - 1"
    )
    took["one_territory_30_days_s"] = await _timed_refresh(
        maker,
        now,
        f"INSERT INTO kpi_stale (territory_id, since) VALUES ('{territory}', '{store.closed_before(now) - 30 * DAY}')",
    )
    note(
        "refresh with nothing stale {nothing_stale_s:.3f} s; one more closed day everywhere {one_new_day_s:.2f} s; "
        "a month of one territory {one_territory_30_days_s:.2f} s".format(**took)
    )
    return took


async def measure_view(
    maker: async_sessionmaker[AsyncSession], clock: StatementClock, view: View, now: dt.datetime, runs: int
) -> Measured:
    async with maker() as session:
        backend = int((await session.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one())
    cpu: list[float] = []

    async def once() -> tuple[float, KpiReport]:
        async with maker() as session:
            spent = _cpu_seconds(backend)
            began = time.perf_counter()
            report = await kpi_report(session, view.principal, view.query, now=now)
            took = time.perf_counter() - began
            after = _cpu_seconds(backend)
            await session.rollback()
        if spent is not None and after is not None:
            cpu.append(after - spent)
        return took, report

    scopes: list[Scope] = []
    with capture_scope(scopes):
        warmup, report = await once()
    clock.take()
    watch = CpuWatch()
    times: list[float] = []
    statements: dict[str, list[float]] = defaultdict(list)
    for k in range(runs):
        took, report = await once()
        times.append(took)
        for label, seconds in clock.take().items():
            statements[label].append(seconds)
        note(f"  {view.key} run {k + 1}/{runs}: {took:.3f} s")
    other, busiest = watch.others()
    return Measured(view, warmup, times, dict(statements), cpu[1:], other, busiest, report, scopes[0])


async def explain(maker: async_sessionmaker[AsyncSession], scope: Scope) -> list[tuple[str, list[str]]]:
    found = []
    statements: list[Any] = [*queries.statements(scope), queries._percentile_statement(scope)]
    async with maker() as session:
        for statement in statements:
            sql = str(statement.compile(session.bind))
            rows = (await session.execute(Explain(statement))).all()
            found.append((statement_label(sql), [str(row[0]) for row in rows]))
        await session.rollback()
    return found


async def counts(dsn: str, params: Params) -> dict[str, int]:
    conn = await _connect(dsn)
    try:
        found = {name: int(await conn.fetchval(f"SELECT count(*) FROM {name}")) for name in LOADED_TABLES}
        start = dt.datetime.combine(params.start, dt.time(), UTC)
        end = dt.datetime.combine(params.end + DAY, dt.time(), UTC)
        found["jobs created in the period"] = int(
            await conn.fetchval(
                "SELECT count(*) FROM jobs WHERE created_at >= $1 AND created_at < $2", start, end
            )
        )
        found["database size (MB)"] = round(
            int(await conn.fetchval("SELECT pg_database_size(current_database())")) / 2**20
        )
        return found
    finally:
        await conn.close()


async def territory_ids(dsn: str) -> dict[str, uuid.UUID]:
    conn = await _connect(dsn)
    try:
        return {row["code"]: row["id"] for row in await conn.fetch("SELECT id, code FROM territories")}
    finally:
        await conn.close()


# --------------------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------------------


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}" if values else "-"


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "share":
        return f"{value * 100:.1f} %"
    if unit == "seconds":
        return f"{value / 60:.1f} min" if value < 3 * 3600 else f"{value / 3600:.1f} h"
    return f"{value:.2f}"


def print_results(
    measured: list[Measured],
    table_counts: dict[str, int],
    how: dict[str, Any],
    plans: list[tuple[str, list[str]]],
    info: dict[str, str],
    runs: int,
    technicians: int,
) -> None:
    print(f"\n# KPI benchmark, {info['database']}, {info['commit']} ({info['when']})\n")
    print(
        f"Machine: {info['cpu']}, {info['cores']} cores; Python {info['python']}, SQLAlchemy {info['sqlalchemy']}"
    )
    print(f"Command: {info['command']}")
    print(f"Server settings: {info['settings']}")
    print(f"Database {how['database']}: " + ("reused (kept)" if how["loaded"] == "reused" else "loaded now"))
    if how.get("load_s"):
        load_s = how["load_s"]
        print(
            f"Load: simulate {load_s['simulate']:.0f} s, copy {sum(v for k, v in load_s.items() if k in LOADED_TABLES):.0f} s, "
            f"VACUUM (ANALYZE) {load_s['vacuum_analyze']:.0f} s"
        )
    print("\n| table | rows |\n|---|--:|")
    for name, count in table_counts.items():
        print(f"| {name} | {count:,} |")
    print(
        "\n| view | warm-up s | min s | median s | max s | runs | backend CPU s | other CPU | target |\n"
        "|---|--:|--:|--:|--:|--:|--:|--:|---|"
    )
    for m in measured:
        target = ""
        if m.view.key == "year":
            verdict = "met" if m.median < TARGET_S else "MISSED"
            # The target is for 100 technicians' year; another size is only indicative.
            target = f"< {TARGET_S:g} s ({verdict if technicians == DEFAULT_TECHNICIANS else 'other size'})"
        print(
            f"| {m.view.title} | {m.warmup_s:.3f} | {min(m.runs_s):.3f} | {m.median:.3f} | {max(m.runs_s):.3f} | "
            f"{runs} | {_median(m.backend_cpu_s)} | {m.other_cpu * 100:.0f} % | {target} |"
        )
    for m in measured:
        if m.busiest:
            print(f"\nBusy meanwhile ({m.view.key}): {', '.join(m.busiest)}")
    for m in measured:
        print(f"\nStatements of a run, {m.view.title} (median of {runs}):\n\n| statement | ms |\n|---|--:|")
        medians = {label: statistics.median(v) for label, v in m.statements_s.items()}
        for label, seconds in sorted(medians.items(), key=lambda kv: -kv[1]):
            print(f"| {label} | {seconds * 1000:.0f} |")
        print(f"| (sum) | {sum(medians.values()) * 1000:.0f} |")
    year = measured[0].report
    print(f"\nThe year's KPIs ({year.start} to {year.end}), as an admin sees them:\n")
    print("| KPI | value | target | met | sample |\n|---|--:|--:|---|--:|")
    for k in year.kpis:
        met = "-" if k.met is None else ("yes" if k.met else "no")
        print(
            f"| {k.label} | {_value(k.value, k.unit.value)} | {_value(k.target, k.unit.value)} | {met} | {k.sample:,} |"
        )
    worst = ", ".join(f"{g.code} ({len(g.missed)} missed)" for g in year.territories)
    print(f"\nTerritories, worst first: {worst}")
    for label, lines in plans:
        print(f"\n## EXPLAIN (ANALYZE, BUFFERS): {label}\n")
        print("\n".join(lines))


SHOWN_SETTINGS = ("jit", "work_mem", "shared_buffers", "max_parallel_workers_per_gather", "random_page_cost")


def machine_info(server: str, settings: str) -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "domain"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "sqlalchemy": sa.__version__,
        "database": server,
        "settings": settings,
        "command": " ".join([".venv/bin/python", "bench/kpis.py", *sys.argv[1:]]),
        "commit": (commit or "unknown") + (" (domain/ modified)" if dirty else ""),
        "when": dt.datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


async def run(args: argparse.Namespace) -> int:
    params = Params(args.seed, args.technicians, args.end)
    base = make_url(args.postgres_url)
    try:
        server = "PostgreSQL " + str(await _one(_dsn(base), "SHOW server_version"))
    except (TimeoutError, OSError) as error:
        print(f"PostgreSQL unreachable at {base.render_as_string()} ({error}): the KPI benchmark is skipped")
        return 0
    settings = str(
        await _one(
            _dsn(base),
            "SELECT string_agg(name || '=' || setting || coalesce(unit, ''), ', ' ORDER BY name) "
            "FROM pg_settings WHERE name = ANY($1)",
            list(SHOWN_SETTINGS),
        )
    )
    if args.settings:
        settings += "; for the measured connection: " + ", ".join(f"{k}={v}" for k, v in args.settings)
    async with database(base, params, args.keep, args.reload) as (dsn, how):
        table_counts = await counts(dsn, params)
        if args.load_only:
            print("\n".join(f"{name}: {count:,}" for name, count in table_counts.items()))
            return 0
        ids = await territory_ids(dsn)
        views = [
            View(
                "year",
                f"year ({params.start} to {params.end}), admin, 52 weeks of trend",
                Principal(uuid.uuid4(), Role.ADMIN),
                KpiQuery(start=params.start, end=params.end, weeks=52),
            ),
            View(
                "dispatcher",
                f"last 4 weeks, dispatcher of {DISPATCHER_TERRITORY}, 8 weeks of trend",
                Principal(
                    uuid.uuid4(), Role.DISPATCHER, territory_ids=frozenset({ids[DISPATCHER_TERRITORY]})
                ),
                KpiQuery(start=params.end - 27 * DAY, end=params.end, weeks=8),
            ),
        ]
        # The app's engine (domain.db), one connection; --set adds server settings to it (e.g. jit=off).
        engine = create_engine(
            dsn, pool_size=1, max_overflow=0, connect_args={"server_settings": dict(args.settings)}
        )
        clock = StatementClock()
        clock.attach(engine)
        maker = async_sessionmaker(engine, expire_on_commit=False, sync_session_class=AuditedSession)
        try:
            how["store"] = await fill_store(maker, params.now, ids[DISPATCHER_TERRITORY])
            measured = []
            for view in views:
                note(f"measuring {view.title}")
                measured.append(await measure_view(maker, clock, view, params.now, args.runs))
            plans = await explain(maker, measured[0].scope) if args.explain else []
        finally:
            await engine.dispose()
    info = machine_info(server, settings)
    print_results(measured, table_counts, how, plans, info, args.runs, params.technicians)
    write_json(args, params, info, how, table_counts, measured, plans)
    return 0


def write_json(
    args: argparse.Namespace,
    params: Params,
    info: dict[str, str],
    how: dict[str, Any],
    table_counts: dict[str, int],
    measured: list[Measured],
    plans: list[tuple[str, list[str]]],
) -> None:
    folder = REPO / "bench" / "results"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"kpis-{dt.datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    body = {
        "command": info["command"],
        "params": {"seed": params.seed, "technicians": params.technicians, "end": params.end.isoformat()},
        "machine": info,
        "database": how,
        "rows": table_counts,
        "views": [
            {
                "view": m.view.title,
                "warmup_s": m.warmup_s,
                "runs_s": m.runs_s,
                "median_s": m.median,
                "statements_s": m.statements_s,
                "backend_cpu_s": m.backend_cpu_s,
                "other_cpu": m.other_cpu,
                "busiest_others": m.busiest,
            }
            for m in measured
        ],
        "year_kpis": {
            k.key: {"value": k.value, "target": k.target, "sample": k.sample} for k in measured[0].report.kpis
        },
        "plans": {label: lines for label, lines in plans},
    }
    path.write_text(json.dumps(body, indent=2, default=str))
    note(f"results written to {path.relative_to(REPO)}")


def _setting(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value.strip()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES,
        help=f"the PostgreSQL server; its database is only used to create the benchmark's (default {DEFAULT_POSTGRES})",
    )
    parser.add_argument(
        "--keep",
        metavar="NAME",
        help="use and keep the database NAME: loaded if missing, reused as it is when it holds these data",
    )
    parser.add_argument("--reload", action="store_true", help="with --keep: drop and load the database again")
    parser.add_argument(
        "--load-only", action="store_true", help="with --keep: load (or check) and measure nothing"
    )
    parser.add_argument(
        "--runs", type=int, default=DEFAULT_RUNS, help=f"measured runs per view ({DEFAULT_RUNS})"
    )
    parser.add_argument(
        "--explain", action="store_true", help="print EXPLAIN (ANALYZE, BUFFERS) of each statement"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--technicians", type=int, default=DEFAULT_TECHNICIANS)
    parser.add_argument(
        "--end",
        type=dt.date.fromisoformat,
        default=DEFAULT_END,
        help=f"the period's last day (default {DEFAULT_END}); the data cover the year up to it",
    )
    parser.add_argument(
        "--set",
        dest="settings",
        metavar="NAME=VALUE",
        type=_setting,
        action="append",
        default=[],
        help="a PostgreSQL setting for the measured connection, e.g. --set jit=off (default: the server's)",
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
