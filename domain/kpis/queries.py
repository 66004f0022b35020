"""The SQL behind the KPIs: one stream per kind of event, added up by local day, then either grouped by territory,
service type, local week and whether the day falls in the period (a report), or kept by day and technician (the
daily tallies of domain.kpis.store). The database does the per-job work and the grouping; what comes back is a few
rows per week and group however many jobs there are (docs/benchmarks.md has the figures).

Every stream's source has the same first columns: the territory, the service type, the technician, the moment the
event is counted at, and the territory's time zone. A report reads the days before `Scope.live_from` from the
daily tallies and computes only the later ones from the events."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement, CompoundSelect, Select

from domain import models as m
from domain.enums import AppointmentStatus, CompletionOutcome, JobStatus
from domain.kpis.local_time import local_date, local_week, seconds_between
from domain.kpis.tally import Tally

FAST_CHANNELS = ("phone", "chat")
# Time zones are at most 14 hours from UTC: a day either side of the local range catches every event in it.
_MARGIN = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Scope:
    """What to measure: local dates `[start, end)` for the period, `[trend_start, trend_end)` (whole weeks) for the
    trend, the territories the asker may see (None: all), and optional filters."""

    start: dt.date
    end: dt.date
    trend_start: dt.date
    trend_end: dt.date
    now: dt.datetime
    first_fix_window_s: int
    territory_ids: frozenset[uuid.UUID] | None = None
    service_type_id: uuid.UUID | None = None
    technician_id: uuid.UUID | None = None
    # Days before it come from the daily tallies (domain.kpis.store); None: every day from the events.
    live_from: dt.date | None = None

    @property
    def first_day(self) -> dt.date:
        return min(self.start, self.trend_start)

    @property
    def last_day(self) -> dt.date:
        """The day after the last one measured."""
        return max(self.end, self.trend_end)

    @property
    def first_live_day(self) -> dt.date:
        return max(self.first_day, self.live_from) if self.live_from else self.first_day

    @property
    def utc_from(self) -> dt.datetime:
        return dt.datetime.combine(self.first_live_day, dt.time(), dt.UTC) - _MARGIN

    @property
    def utc_to(self) -> dt.datetime:
        return dt.datetime.combine(self.last_day, dt.time(), dt.UTC) + _MARGIN


# Any statement, whatever its columns.
Query: TypeAlias = Select[*tuple[Any, ...]]
# A measure: its SQL over a stream's source subquery.
Measure: TypeAlias = Callable[[Any], ColumnElement[Any]]


@dataclass(frozen=True, slots=True)
class Stream:
    """One kind of event: its rows (see the module's docstring) and the measures they add up to."""

    source: Query
    measures: dict[str, Measure]


GroupKey = tuple[uuid.UUID | None, uuid.UUID | None, dt.date, bool]


def _earliest(a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
    # LEAST ignores NULLs on PostgreSQL, SQLite's min() returns NULL: spell it out.
    return sa.case((a.is_(None), b), (b.is_(None), a), (a <= b, a), else_=b)


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def _sum(column: ColumnElement[Any]) -> ColumnElement[Any]:
    return sa.func.coalesce(sa.func.sum(column), 0)


def _job_filters(scope: Scope, job: Any, technician: Any) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if scope.territory_ids is not None:
        where.append(job.territory_id.in_(scope.territory_ids))
    if scope.service_type_id is not None:
        where.append(job.service_type_id == scope.service_type_id)
    if scope.technician_id is not None:
        where.append(technician == scope.technician_id if technician is not None else sa.false())
    return where


def _job_source(scope: Scope, at: Any, *columns: Any, bounded: bool = True) -> Query:
    """Rows about jobs, counted at `at`, with the territory's zone; the caller adds joins and conditions.

    `bounded`: only rows whose `at` falls in the scope's UTC range. The local days' test (_grouped) implies it, so
    it only spares rows; where `at` is computed (a first completion or arrival), the planner cannot estimate it
    and, guessing a handful of rows where there are thousands, joins them one by one: leave it out."""
    bounds = [at >= scope.utc_from, at < scope.utc_to] if bounded else []
    return (
        sa.select(
            m.Job.territory_id.label("territory_id"),
            m.Job.service_type_id.label("service_type_id"),
            m.Assignment.technician_id.label("technician_id"),
            at.label("at"),
            m.Territory.timezone.label("zone"),
            *columns,
        )
        .join(m.Territory, m.Territory.id == m.Job.territory_id)
        .outerjoin(m.Assignment, m.Assignment.job_id == m.Job.id)
        .where(*bounds, *_job_filters(scope, m.Job, m.Assignment.technician_id))
    )


def _days(stream: Stream) -> Any:
    """The stream's measures by territory, service type, technician and local day (with its week): each row's
    local day and week computed once, the time zone conversion being what a row costs most."""
    src = stream.source.subquery()
    day = local_date(src.c.at, src.c.zone)
    week = local_week(src.c.at, src.c.zone)
    return (
        sa.select(
            src.c.territory_id,
            src.c.service_type_id,
            src.c.technician_id,
            day.label("day"),
            week.label("week"),
            *(expr(src).label(name) for name, expr in stream.measures.items()),
        )
        .group_by(src.c.territory_id, src.c.service_type_id, src.c.technician_id, day, week)
        .subquery()
    )


def _grouped(scope: Scope, stream: Stream) -> Query:
    """The measures by territory, service type, local week and whether the local day is in the period, over the
    live days in the period or the trend. Every measure is a count or a sum, so the days add up to the week."""
    days = _days(stream)
    in_period = sa.and_(days.c.day >= scope.start, days.c.day < scope.end)
    in_trend = sa.and_(days.c.day >= scope.trend_start, days.c.day < scope.trend_end)
    flag = sa.case((in_period, 1), else_=0)
    return (
        sa.select(
            days.c.territory_id,
            days.c.service_type_id,
            days.c.week,
            flag.label("in_period"),
            *(_sum(days.c[name]).label(name) for name in stream.measures),
        )
        .where(sa.or_(in_period, in_trend), days.c.day >= scope.first_live_day)
        .group_by(days.c.territory_id, days.c.service_type_id, days.c.week, flag)
    )


def _daily(scope: Scope, stream: Stream) -> Query:
    """The stream's rows of the days `[first_day, last_day)` by territory, service type, technician and day: what
    the daily tallies keep."""
    days = _days(stream)
    return sa.select(days).where(days.c.day >= scope.first_day, days.c.day < scope.last_day)


# The first response to a job: an appointment offered, or the job scheduled or dispatched.
def _responses(scope: Scope, among: Any) -> Any:
    """The first appointment offered to, and the first scheduling of, each job in `among` (job ids)."""
    appointments = (
        sa.select(m.Appointment.job_id, sa.func.min(m.Appointment.created_at).label("at"))
        .where(
            m.Appointment.created_at >= scope.utc_from - dt.timedelta(days=60),
            m.Appointment.job_id.in_(among),
        )
        .group_by(m.Appointment.job_id)
        .subquery()
    )
    scheduled = (
        sa.select(m.JobStatusEvent.job_id, sa.func.min(m.JobStatusEvent.occurred_at).label("at"))
        .where(
            m.JobStatusEvent.to_status.in_((JobStatus.SCHEDULED, JobStatus.DISPATCHED)),
            m.JobStatusEvent.occurred_at >= scope.utc_from - dt.timedelta(days=60),
            m.JobStatusEvent.job_id.in_(among),
        )
        .group_by(m.JobStatusEvent.job_id)
        .subquery()
    )
    return appointments, scheduled


def _response_source(scope: Scope) -> Query:
    received_in_range = (
        sa.select(m.Job.id)
        .join(m.ServiceRequest, m.ServiceRequest.id == m.Job.service_request_id)
        .where(m.ServiceRequest.received_at >= scope.utc_from, m.ServiceRequest.received_at < scope.utc_to)
    )
    appointments, scheduled = _responses(scope, received_in_range)
    responded = _earliest(appointments.c.at, scheduled.c.at)
    received = m.ServiceRequest.received_at
    seconds = sa.case((responded < received, 0.0), else_=seconds_between(received, responded))
    return (
        _job_source(
            scope,
            received,
            m.ServiceRequest.channel.in_(FAST_CHANNELS).label("fast"),
            sa.case((responded.is_not(None), seconds)).label("response_s"),
        )
        .join(m.ServiceRequest, m.ServiceRequest.id == m.Job.service_request_id)
        .outerjoin(appointments, appointments.c.job_id == m.Job.id)
        .outerjoin(scheduled, scheduled.c.job_id == m.Job.id)
        # A follow-up or rework shares its first visit's request: booking it days later answers nobody's call.
        .where(m.Job.origin_job_id.is_(None))
    )


def _ratings(scope: Scope) -> Stream:
    source = _job_source(scope, m.Rating.rated_at, m.Rating.score.label("score")).join(
        m.Rating, m.Rating.job_id == m.Job.id
    )
    return Stream(
        source,
        {
            "ratings": lambda s: sa.func.count(),
            "good_ratings": lambda s: _count_if(s.c.score >= 4),
            "score_sum": lambda s: _sum(s.c.score),
        },
    )


def _response_times(scope: Scope) -> Stream:
    def answered(s: Any) -> ColumnElement[bool]:
        column: ColumnElement[Any] = s.c.response_s
        return column.is_not(None)

    return Stream(
        _response_source(scope),
        {
            "fast_responses": lambda s: _count_if(sa.and_(answered(s), s.c.fast)),
            "fast_response_s": lambda s: _sum(sa.case((s.c.fast, s.c.response_s))),
            "other_responses": lambda s: _count_if(sa.and_(answered(s), sa.not_(s.c.fast))),
            "other_response_s": lambda s: _sum(sa.case((sa.not_(s.c.fast), s.c.response_s))),
        },
    )


def _first_completions(scope: Scope, among: Any) -> Any:
    """The first completion of each job in `among` (a statement of job ids): its moment (on the device's clock
    when there is one) and outcome. Ranking only those spares ranking a year's completions for a few days'."""
    moment = sa.func.coalesce(m.JobCompletion.reported_at, m.JobCompletion.completed_at)
    ranked = (
        sa.select(
            m.JobCompletion.job_id,
            moment.label("at"),
            m.JobCompletion.outcome,
            sa.func.row_number()
            .over(partition_by=m.JobCompletion.job_id, order_by=(moment, m.JobCompletion.created_at))
            .label("n"),
        )
        .where(m.JobCompletion.job_id.in_(among))
        .subquery()
    )
    # `n <= 1` is `n = 1` (a row number starts at 1), written so that PostgreSQL estimates a third of the rows
    # rather than one in 200: the guess of a few hundred first completions made it join them one by one.
    return sa.select(ranked.c.job_id, ranked.c.at, ranked.c.outcome).where(ranked.c.n <= 1).subquery()


def _deadlines(scope: Scope) -> list[Stream]:
    respond_in_range = sa.select(m.Job.id).where(
        m.Job.respond_by >= scope.utc_from, m.Job.respond_by < scope.utc_to
    )
    appointments, scheduled = _responses(scope, respond_in_range)
    responded = _earliest(appointments.c.at, scheduled.c.at)
    due = sa.select(m.Job.id).where(m.Job.resolve_by >= scope.utc_from, m.Job.resolve_by < scope.utc_to)
    first = _first_completions(scope, due)
    now = sa.literal(scope.now, m.Job.respond_by.type)
    not_cancelled = m.Job.status != JobStatus.CANCELLED
    respond = (
        _job_source(
            scope,
            m.Job.respond_by,
            sa.case((responded <= m.Job.respond_by, 1), else_=0).label("met"),
            sa.case((sa.or_(responded <= m.Job.respond_by, m.Job.respond_by < now), 1), else_=0).label("due"),
        )
        .outerjoin(appointments, appointments.c.job_id == m.Job.id)
        .outerjoin(scheduled, scheduled.c.job_id == m.Job.id)
        .where(not_cancelled)
    )
    resolve = (
        _job_source(
            scope,
            m.Job.resolve_by,
            sa.case((first.c.at <= m.Job.resolve_by, 1), else_=0).label("met"),
            sa.case((sa.or_(first.c.at <= m.Job.resolve_by, m.Job.resolve_by < now), 1), else_=0).label(
                "due"
            ),
        )
        .outerjoin(first, first.c.job_id == m.Job.id)
        .where(not_cancelled)
    )
    measures: dict[str, Measure] = {
        "deadlines": lambda s: _sum(s.c.due),
        "deadlines_met": lambda s: _sum(s.c.met),
    }
    return [Stream(respond, measures), Stream(resolve, measures)]


def _completed_jobs(scope: Scope) -> Stream:
    c = m.JobCompletion
    # A first completion in the range is a completion in it (the device's moment or the server's).
    completed = sa.select(c.job_id).where(
        sa.or_(c.completed_at >= scope.utc_from, c.reported_at >= scope.utc_from)
    )
    first = _first_completions(scope, completed)
    reopened = (
        sa.select(m.JobStatusEvent.job_id, sa.func.min(m.JobStatusEvent.occurred_at).label("at"))
        .where(m.JobStatusEvent.to_status == JobStatus.REOPENED)
        .group_by(m.JobStatusEvent.job_id)
        .subquery()
    )
    origin = sa.orm.aliased(m.Job)
    returns = (
        sa.select(origin.origin_job_id.label("job_id"), sa.func.min(origin.created_at).label("at"))
        .where(origin.origin_job_id.is_not(None))
        .group_by(origin.origin_job_id)
        .subquery()
    )
    window = scope.first_fix_window_s

    def back_within(at: Any) -> ColumnElement[bool]:
        return sa.and_(at.is_not(None), seconds_between(first.c.at, at) <= window)

    fixed = sa.and_(
        m.Job.origin_job_id.is_(None),
        first.c.outcome == CompletionOutcome.FIXED,
        sa.not_(back_within(reopened.c.at)),
        sa.not_(back_within(returns.c.at)),
    )
    source = (
        _job_source(
            scope,
            first.c.at,
            m.Job.origin_job_id.is_(None).label("first_visit"),
            sa.case((fixed, 1), else_=0).label("fixed"),
            sa.case((reopened.c.at > first.c.at, 1), else_=0).label("reopened"),
            m.Job.value_cents.label("value_cents"),
            bounded=False,
        )
        .join(first, first.c.job_id == m.Job.id)
        .outerjoin(reopened, reopened.c.job_id == m.Job.id)
        .outerjoin(returns, returns.c.job_id == m.Job.id)
    )
    return Stream(
        source,
        {
            "jobs_completed": lambda s: sa.func.count(),
            "reopened": lambda s: _sum(s.c.reopened),
            "first_visits": lambda s: _count_if(s.c.first_visit),
            "first_visits_fixed": lambda s: _sum(s.c.fixed),
            "value_cents": lambda s: _sum(s.c.value_cents),
        },
    )


def _visits(scope: Scope) -> Stream:
    c = m.JobCompletion
    began = sa.func.coalesce(c.arrived_at, c.reported_at, c.completed_at)
    valued = m.Job.value_cents.is_not(None)
    source = (
        sa.select(
            m.Job.territory_id.label("territory_id"),
            m.Job.service_type_id.label("service_type_id"),
            c.technician_id.label("technician_id"),
            began.label("at"),
            m.Territory.timezone.label("zone"),
            c.on_site_s,
            c.travel_s,
            c.travel_m,
            valued.label("valued"),
        )
        .join(m.Job, m.Job.id == c.job_id)
        .join(m.Territory, m.Territory.id == m.Job.territory_id)
        .where(
            # A visit begun in the range has one of its moments in it: fewer rows to convert to local days.
            sa.or_(
                c.arrived_at >= scope.utc_from,
                c.reported_at >= scope.utc_from,
                c.completed_at >= scope.utc_from,
            ),
            *_job_filters(scope, m.Job, c.technician_id),
        )
    )
    return Stream(
        source,
        {
            "visits": lambda s: sa.func.count(),
            "on_site_s": lambda s: _sum(s.c.on_site_s),
            "travel_s": lambda s: _sum(s.c.travel_s),
            "travelled": lambda s: _count_if(s.c.travel_s.is_not(None)),
            "travel_m": lambda s: _sum(s.c.travel_m),
            "distanced": lambda s: _count_if(s.c.travel_m.is_not(None)),
            "valued_on_site_s": lambda s: _sum(sa.case((s.c.valued, s.c.on_site_s))),
            "valued_travel_m": lambda s: _sum(sa.case((s.c.valued, s.c.travel_m))),
        },
    )


def _arrivals(scope: Scope) -> Stream:
    e = m.JobStatusEvent
    moment = sa.func.coalesce(e.reported_at, e.occurred_at)
    # Each job's first arrival ever, looked for among the jobs reached in the range: the range alone would make a
    # reopened job's second arrival its first, and the answer depend on how far back the trend reaches.
    reached = sa.orm.aliased(m.JobStatusEvent)
    arrived = (
        sa.select(e.job_id, sa.func.min(moment).label("at"))
        .where(
            e.to_status == JobStatus.ON_SITE,
            e.job_id.in_(
                sa.select(reached.job_id).where(
                    reached.to_status == JobStatus.ON_SITE, reached.occurred_at >= scope.utc_from
                )
            ),
        )
        .group_by(e.job_id)
        .cte("arrived")
    )
    # The promise the arrival is judged by is the one standing when it happened: the newest appointment made
    # before it that the customer confirmed (a later booking, for a reopened job's second visit, marks it
    # rescheduled; it stays the first visit's promise).
    a = m.Appointment
    ranked = (
        sa.select(
            a.job_id,
            a.window_start,
            a.window_end,
            sa.func.row_number().over(partition_by=a.job_id, order_by=a.created_at.desc()).label("n"),
        )
        .join(arrived, arrived.c.job_id == a.job_id)
        .where(
            a.created_at <= arrived.c.at,
            a.status.in_((AppointmentStatus.CONFIRMED, AppointmentStatus.RESCHEDULED)),
        )
        .subquery()
    )
    promised = sa.select(ranked).where(ranked.c.n <= 1).subquery()  # n = 1 (see _first_completions)
    on_time = sa.and_(arrived.c.at >= promised.c.window_start, arrived.c.at <= promised.c.window_end)
    source = (
        _job_source(scope, arrived.c.at, on_time.label("on_time"), bounded=False)
        .join(arrived, arrived.c.job_id == m.Job.id)
        .join(promised, promised.c.job_id == m.Job.id)
    )
    return Stream(
        source, {"arrivals": lambda s: sa.func.count(), "on_time": lambda s: _count_if(s.c.on_time)}
    )


def _complaint_source(scope: Scope, at: Any, *columns: Any) -> Query:
    c = m.Complaint
    return (
        sa.select(
            c.territory_id.label("territory_id"),
            m.Job.service_type_id.label("service_type_id"),
            m.Assignment.technician_id.label("technician_id"),
            at.label("at"),
            m.Territory.timezone.label("zone"),
            *columns,
        )
        .join(m.Territory, m.Territory.id == c.territory_id)
        .outerjoin(m.Job, m.Job.id == c.job_id)
        .outerjoin(m.Assignment, m.Assignment.job_id == m.Job.id)
        .where(at >= scope.utc_from, at < scope.utc_to, *_complaint_filters(scope))
    )


def _complaint_filters(scope: Scope) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if scope.territory_ids is not None:
        where.append(m.Complaint.territory_id.in_(scope.territory_ids))
    if scope.service_type_id is not None:
        where.append(m.Job.service_type_id == scope.service_type_id)
    if scope.technician_id is not None:
        where.append(m.Assignment.technician_id == scope.technician_id)
    return where


def _complaints(scope: Scope) -> list[Stream]:
    c = m.Complaint
    received = Stream(_complaint_source(scope, c.received_at), {"complaints": lambda s: sa.func.count()})
    resolved = Stream(
        _complaint_source(
            scope, c.resolved_at, seconds_between(c.received_at, c.resolved_at).label("resolution_s")
        ).where(c.resolved_at.is_not(None)),
        {
            "complaints_resolved": lambda s: sa.func.count(),
            "resolution_s": lambda s: _sum(s.c.resolution_s),
        },
    )
    return [received, resolved]


def _shifts(scope: Scope) -> Stream | None:
    # Shift time cannot be split by service type: with that filter there is no utilization.
    if scope.service_type_id is not None:
        return None
    s, t = m.Shift, m.Technician
    breaks = (
        sa.select(m.ShiftBreak.shift_id, sa.func.sum(m.ShiftBreak.duration_s).label("s"))
        .group_by(m.ShiftBreak.shift_id)
        .subquery()
    )
    # Only time worked so far: a shift under way counts up to now (its break still to come), tomorrow's not at all.
    now = sa.literal(scope.now, s.ends_at.type)
    ended = s.ends_at <= now
    worked = sa.case(
        (ended, seconds_between(s.starts_at, s.ends_at) - sa.func.coalesce(breaks.c.s, 0)),
        else_=seconds_between(s.starts_at, now),
    )
    where: list[ColumnElement[bool]] = [
        s.starts_at >= scope.utc_from,
        s.starts_at < scope.utc_to,
        s.starts_at < now,
    ]
    if scope.territory_ids is not None:
        where.append(t.territory_id.in_(scope.territory_ids))
    if scope.technician_id is not None:
        where.append(s.technician_id == scope.technician_id)
    source = (
        sa.select(
            t.territory_id.label("territory_id"),
            sa.null().label("service_type_id"),
            s.technician_id.label("technician_id"),
            s.starts_at.label("at"),
            m.Territory.timezone.label("zone"),
            worked.label("worked_s"),
        )
        .join(t, t.id == s.technician_id)
        .join(m.Territory, m.Territory.id == t.territory_id)
        .outerjoin(breaks, breaks.c.shift_id == s.id)
        .where(*where)
    )
    return Stream(source, {"shift_s": lambda q: _sum(q.c.worked_s)})


def streams(scope: Scope) -> list[Stream]:
    found = [
        _ratings(scope),
        _response_times(scope),
        *_deadlines(scope),
        _completed_jobs(scope),
        _visits(scope),
        _arrivals(scope),
        *_complaints(scope),
        _shifts(scope),
    ]
    return [s for s in found if s is not None]


def statements(scope: Scope) -> list[Query]:
    """The report's statements: the live days of every stream, and the stored days before them."""
    live = [_grouped(scope, stream) for stream in streams(scope)]
    return [_stored(scope), *live] if scope.live_from is not None else live


def daily_statements(scope: Scope) -> list[Query]:
    """Every stream by territory, service type, technician and local day, for the daily tallies."""
    return [_daily(scope, stream) for stream in streams(scope)]


def _stored_filters(
    scope: Scope, table: type[m.KpiTechnicianDay] | type[m.KpiResponseTime] | type[m.KpiDay]
) -> list[ColumnElement[bool]]:
    assert scope.live_from is not None
    where = [table.day >= scope.first_day, table.day < scope.live_from]
    if scope.territory_ids is not None:
        where.append(table.territory_id.in_(scope.territory_ids))
    if scope.service_type_id is not None:
        where.append(table.service_type_id == scope.service_type_id)
    if scope.technician_id is not None:
        if table is m.KpiDay:
            raise ValueError("kpi_days has no technician: read kpi_technician_days")
        where.append(table.technician_id == scope.technician_id)  # type: ignore[union-attr]
    return where


def _stored(scope: Scope) -> Query:
    """The daily tallies' days before `live_from`, grouped as `_grouped` groups the live ones (from the table by
    technician only when one technician is asked for: it has ten times the rows)."""
    d: type[m.KpiDay] | type[m.KpiTechnicianDay] = m.KpiTechnicianDay if scope.technician_id else m.KpiDay
    in_period = sa.and_(d.day >= scope.start, d.day < scope.end)
    in_trend = sa.and_(d.day >= scope.trend_start, d.day < scope.trend_end)
    flag = sa.case((in_period, 1), else_=0)
    return (
        sa.select(
            d.territory_id,
            d.service_type_id,
            d.week,
            flag.label("in_period"),
            *(sa.func.sum(getattr(d, name)).label(name) for name in MEASURES),
        )
        .where(sa.or_(in_period, in_trend), *_stored_filters(scope, d))
        .group_by(d.territory_id, d.service_type_id, d.week, flag)
    )


MEASURES = tuple(Tally.__dataclass_fields__)
_INTEGER_FIELDS = {name for name, kind in Tally.__annotations__.items() if kind == "int"}


def measure_value(name: str, value: Any) -> int | float:
    """A summed measure as its Python type (PostgreSQL sums big integers as numeric)."""
    if value is None:
        return 0
    return round(value) if name in _INTEGER_FIELDS else float(value)


async def tallies(session: AsyncSession, scope: Scope) -> dict[GroupKey, Tally]:
    """Every statement's rows, added up by (territory, service type, week, in period)."""
    found: dict[GroupKey, Tally] = {}
    for statement in statements(scope):
        for row in (await session.execute(statement)).mappings():
            key = (row["territory_id"], row["service_type_id"], _as_date(row["week"]), bool(row["in_period"]))
            tally = found.setdefault(key, Tally())
            for name, value in row.items():
                if name in MEASURES:
                    setattr(tally, name, getattr(tally, name) + measure_value(name, value))
    return found


def _as_date(value: dt.date | str) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


@dataclass(frozen=True, slots=True)
class Percentile:
    """The 90th percentile of response times for one grouping: `dim` is `all`, `territory`, `service_type` or
    `week`, `key` the group's id or week, `fast` the channel group."""

    dim: str
    key: uuid.UUID | dt.date | None
    fast: bool
    seconds: float


def _answered(scope: Scope) -> Any:
    """Each answered request with its response time, local day and week."""
    source = _response_source(scope).subquery()
    return (
        sa.select(
            source.c.territory_id,
            source.c.service_type_id,
            source.c.technician_id,
            source.c.fast,
            source.c.response_s,
            local_date(source.c.at, source.c.zone).label("day"),
            local_week(source.c.at, source.c.zone).label("week"),
        )
        .where(source.c.response_s.is_not(None))
        .subquery()
    )


def response_times_statement(scope: Scope) -> Query:
    """The answered requests of the days `[first_day, last_day)`, as the daily tallies keep them."""
    a = _answered(scope)
    return sa.select(
        a.c.territory_id, a.c.service_type_id, a.c.technician_id, a.c.day, a.c.week, a.c.fast, a.c.response_s
    ).where(a.c.day >= scope.first_day, a.c.day < scope.last_day)


def _response_rows(scope: Scope) -> Any:
    """Every answered request of the period or the trend, with whether its local day is in the period (`p`) and in
    the trend (`t`), and its local week. The days before `live_from` come from the stored response times."""
    a = _answered(scope)
    columns = ("territory_id", "service_type_id", "fast", "response_s", "day", "week")
    parts: list[Query] = [sa.select(*(a.c[c] for c in columns)).where(a.c.day >= scope.first_live_day)]
    if scope.live_from is not None:
        t = m.KpiResponseTime
        parts.append(sa.select(*(getattr(t, c) for c in columns)).where(*_stored_filters(scope, t)))
    both = sa.union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()
    day = both.c.day
    src = sa.select(
        both.c.territory_id,
        both.c.service_type_id,
        both.c.fast,
        both.c.response_s,
        both.c.week,
        sa.case((sa.and_(day >= scope.start, day < scope.end), 1), else_=0).label("p"),
        sa.case((sa.and_(day >= scope.trend_start, day < scope.trend_end), 1), else_=0).label("t"),
    ).subquery()
    return src


def _percentile_disc_statement(scope: Scope) -> Query:
    """PostgreSQL: `percentile_disc(0.9)` (the nearest rank, as below) over four grouping sets in one pass."""
    src = _response_rows(scope)
    c = src.c
    return (
        sa.select(
            sa.func.grouping(c.territory_id, c.service_type_id, c.week).label("unused"),
            c.territory_id,
            c.service_type_id,
            c.week,
            c.fast,
            c.p,
            c.t,
            sa.func.percentile_disc(0.9).within_group(c.response_s).label("response_s"),
        )
        .where(sa.or_(c.p == 1, c.t == 1))
        .group_by(
            sa.func.grouping_sets(
                sa.tuple_(c.p, c.fast),
                sa.tuple_(c.p, c.territory_id, c.fast),
                sa.tuple_(c.p, c.service_type_id, c.fast),
                sa.tuple_(c.t, c.week, c.fast),
            )
        )
    )


# GROUPING(territory, service type, week): a bit set for each column the grouping set leaves out.
_GROUPING_SETS = {0b111: "all", 0b011: "territory", 0b101: "service_type", 0b110: "week"}


def _percentile_statement(scope: Scope) -> CompoundSelect[*tuple[Any, ...]]:
    # Each response once (the ranks are a CTE read four times), with its rank among those of its channel group in
    # the period overall, by territory and by service type, and in its trend week; a sort per grouping of the
    # responses, not one sort of the four groupings' rows together.
    src = _response_rows(scope)

    def ranks(name: str, *partition: Any) -> list[Any]:
        return [
            sa.func.row_number().over(partition_by=partition, order_by=src.c.response_s).label(f"r_{name}"),
            sa.func.count().over(partition_by=partition).label(f"n_{name}"),
        ]

    ranked = (
        sa.select(
            src,
            *ranks("all", src.c.p, src.c.fast),
            *ranks("territory", src.c.p, src.c.territory_id, src.c.fast),
            *ranks("service_type", src.c.p, src.c.service_type_id, src.c.fast),
            *ranks("week", src.c.t, src.c.week, src.c.fast),
        )
        .where(sa.or_(src.c.p == 1, src.c.t == 1))
        .cte("ranked")
    )
    none_id = sa.cast(sa.null(), m.Job.territory_id.type)
    none_day = sa.cast(sa.null(), sa.Date())

    def part(dim: str, territory: Any, service_type: Any, when: Any, flag: Any) -> Query:
        rank, n = ranked.c[f"r_{dim}"], ranked.c[f"n_{dim}"]
        return sa.select(
            sa.literal(dim).label("dim"),
            territory.label("territory_id"),
            service_type.label("service_type_id"),
            when.label("week"),
            ranked.c.fast,
            ranked.c.response_s,
        ).where(flag == 1, rank == (9 * n + 9) // 10)

    # Nearest rank: the smallest time that at least 90 % of the responses took no longer than.
    return sa.union_all(
        part("all", none_id, none_id, none_day, ranked.c.p),
        part("territory", ranked.c.territory_id, none_id, none_day, ranked.c.p),
        part("service_type", none_id, ranked.c.service_type_id, none_day, ranked.c.p),
        part("week", none_id, none_id, ranked.c.week, ranked.c.t),
    )


async def percentiles(session: AsyncSession, scope: Scope) -> list[Percentile]:
    found = []
    if session.get_bind().dialect.name == "postgresql":
        for row in (await session.execute(_percentile_disc_statement(scope))).mappings():
            dim = _GROUPING_SETS[row["unused"]]
            if (row["t"] if dim == "week" else row["p"]) != 1:
                continue  # the trend's responses outside the period, or the reverse
            found.append(Percentile(dim, _group(dim, row), bool(row["fast"]), float(row["response_s"])))
        return found
    for row in (await session.execute(_percentile_statement(scope))).mappings():
        found.append(
            Percentile(row["dim"], _group(row["dim"], row), bool(row["fast"]), float(row["response_s"]))
        )
    return found


def _group(dim: str, row: Any) -> uuid.UUID | dt.date | None:
    if dim == "territory":
        return row["territory_id"]  # type: ignore[no-any-return]
    if dim == "service_type":
        return row["service_type_id"]  # type: ignore[no-any-return]
    if dim == "week" and row["week"] is not None:
        return _as_date(row["week"])
    return None
