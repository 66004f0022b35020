"""Local calendar days in SQL: a KPI counts an event on the day (and week) it happened where it happened.

PostgreSQL converts with `timezone(zone, ts)`; SQLite has no time zones, so the engine registers two small Python
functions on each connection (domain.db) that do the same with zoneinfo."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class local_date(FunctionElement[dt.date]):  # noqa: N801 - reads as the SQL function it is
    """The calendar date of a UTC timestamp in a time zone: `local_date(ts, zone)`."""

    type = sa.Date()
    inherit_cache = True


class local_week(FunctionElement[dt.date]):  # noqa: N801
    """The Monday starting the local week of a UTC timestamp: `local_week(ts, zone)`."""

    type = sa.Date()
    inherit_cache = True


@compiles(local_date, "postgresql")
def _local_date_pg(element: local_date, compiler: SQLCompiler, **kw: Any) -> str:
    ts, zone = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(timezone({zone}, {ts}) AS DATE)"


@compiles(local_week, "postgresql")
def _local_week_pg(element: local_week, compiler: SQLCompiler, **kw: Any) -> str:
    ts, zone = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(date_trunc('week', timezone({zone}, {ts})) AS DATE)"


@compiles(local_date, "sqlite")
def _local_date_sqlite(element: local_date, compiler: SQLCompiler, **kw: Any) -> str:
    return f"fw_local_date({compiler.process(element.clauses, **kw)})"


@compiles(local_week, "sqlite")
def _local_week_sqlite(element: local_week, compiler: SQLCompiler, **kw: Any) -> str:
    return f"fw_local_week({compiler.process(element.clauses, **kw)})"


@functools.lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


# A statement asks for the same row's day several times (its filter, its group, its period flag): remember the
# last few thousand answers rather than parse and convert again.
@functools.lru_cache(maxsize=8192)
def _sqlite_local_date(stored: str | None, zone: str | None) -> str | None:
    if stored is None or zone is None:
        return None
    moment = dt.datetime.fromisoformat(stored)
    if moment.tzinfo is None:  # advanced-alchemy stores UTC without an offset on SQLite
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(_zone(zone)).date().isoformat()


@functools.lru_cache(maxsize=8192)
def _sqlite_local_week(stored: str | None, zone: str | None) -> str | None:
    day = _sqlite_local_date(stored, zone)
    if day is None:
        return None
    date = dt.date.fromisoformat(day)
    return (date - dt.timedelta(days=date.weekday())).isoformat()


def register_sqlite_functions(dbapi_connection: Any) -> None:
    dbapi_connection.create_function("fw_local_date", 2, _sqlite_local_date, deterministic=True)
    dbapi_connection.create_function("fw_local_week", 2, _sqlite_local_week, deterministic=True)


class seconds_between(FunctionElement[float]):  # noqa: N801
    """Seconds from the first timestamp to the second: `seconds_between(start, end)`."""

    type = sa.Float()
    inherit_cache = True


@compiles(seconds_between, "postgresql")
def _seconds_between_pg(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"EXTRACT(EPOCH FROM ({end} - {start}))"


@compiles(seconds_between, "sqlite")
def _seconds_between_sqlite(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({end}) - julianday({start})) * 86400.0)"
