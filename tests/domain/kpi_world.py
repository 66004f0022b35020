"""Small KPI scenarios written straight into the database (Core inserts, no services, no audit): each test states
the few jobs, visits, ratings and complaints it needs at exact moments, and computes the answer by hand.

Two territories in different time zones (Paris, UTC+1 in January; New York, UTC-5), two service types, technicians
in each (two in Paris). Every row is inserted as given; nothing is derived, so a test controls each moment it counts."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from domain import models as m
from domain.enums import (
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
from domain.kpis.report import KpiQuery, KpiReport, KpiValue, kpi_report
from domain.principal import Principal
from domain.services import kpi_settings

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
# Deadlines far outside any period a test asks about: a job that is not about SLA adds no deadline.
FAR = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
# After every moment the scenarios use (January 2025), unless a test says otherwise.
NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
ADMIN = Principal(user_id=uuid.uuid4(), role=Role.ADMIN)


def utc(day: dt.date | str, hour: int = 0, minute: int = 0) -> dt.datetime:
    d = dt.date.fromisoformat(day) if isinstance(day, str) else day
    return dt.datetime(d.year, d.month, d.day, hour, minute, tzinfo=dt.UTC)


def local(zone: ZoneInfo, day: str, hour: int = 0, minute: int = 0) -> dt.datetime:
    """A wall-clock moment in `zone`, as UTC (how it is stored)."""
    d = dt.date.fromisoformat(day)
    return dt.datetime(d.year, d.month, d.day, hour, minute, tzinfo=zone).astimezone(dt.UTC)


def paris(day: str, hour: int = 12, minute: int = 0) -> dt.datetime:
    return local(PARIS, day, hour, minute)


def new_york(day: str, hour: int = 12, minute: int = 0) -> dt.datetime:
    return local(NEW_YORK, day, hour, minute)


@dataclass
class KpiWorld:
    """Builds rows inside `async with world.rows():` (one transaction, committed at the end, before a report is
    read); `territories`, `service_types` and `technicians` are keyed by short names: territories `paris` and
    `ny`, service types `leak` and `fault`, technicians `tech_p`, `tech_p2` (Paris) and `tech_ny` (New York)."""

    engine: AsyncEngine
    conn: AsyncConnection | None = None
    session: AsyncSession | None = None
    territories: dict[str, uuid.UUID] = field(default_factory=dict)
    service_types: dict[str, uuid.UUID] = field(default_factory=dict)
    technicians: dict[str, uuid.UUID] = field(default_factory=dict)
    customers: dict[str, uuid.UUID] = field(default_factory=dict)
    sites: dict[str, uuid.UUID] = field(default_factory=dict)
    dispatchers: dict[str, Principal] = field(default_factory=dict)

    @contextlib.asynccontextmanager
    async def rows(self) -> AsyncIterator[KpiWorld]:
        async with self.engine.begin() as conn:
            self.conn = conn
            try:
                yield self
            finally:
                self.conn = None

    @contextlib.asynccontextmanager
    async def orm(self, sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
        """Rows written through the app's session (audited, noted stale for the KPI store), committed at the end."""
        async with sessionmaker() as session:
            self.session = session
            try:
                yield session
                await session.commit()
            finally:
                self.session = None

    async def _insert(self, model: Any, **values: Any) -> uuid.UUID:
        row_id = values.setdefault("id", uuid.uuid4())
        if self.session is not None:
            self.session.add(model(**values))
            await self.session.flush()
        else:
            assert self.conn is not None, "insert rows inside `async with world.rows():` or `world.orm()`"
            await self.conn.execute(sa.insert(model).values(**values))
        assert isinstance(row_id, uuid.UUID)
        return row_id

    async def base(self) -> KpiWorld:
        for key, code, zone in (("paris", "paris", PARIS), ("ny", "new-york", NEW_YORK)):
            self.territories[key] = await self._insert(
                m.Territory,
                code=code,
                name=code.title(),
                timezone=str(zone),
                center_latitude=48.85,
                center_longitude=2.35,
            )
            self.customers[key] = await self._insert(m.Customer, name=f"Customer {key}")
            self.sites[key] = await self._insert(
                m.Site,
                customer_id=self.customers[key],
                territory_id=self.territories[key],
                address=f"1 {code}",
                latitude=48.85,
                longitude=2.35,
            )
            self.dispatchers[key] = Principal(
                user_id=uuid.uuid4(), role=Role.DISPATCHER, territory_ids=frozenset({self.territories[key]})
            )
        for key, name in (("leak", "Water leak"), ("fault", "Electrical fault")):
            self.service_types[key] = await self._insert(
                m.ServiceType,
                code=key,
                name=name,
                default_duration_s=3600,
                default_priority=Priority.NORMAL,
                checklist=[],
                parts=[],
                tools=[],
                keywords=[],
            )
        for key, territory in (("tech_p", "paris"), ("tech_p2", "paris"), ("tech_ny", "ny")):
            self.technicians[key] = await self._insert(
                m.Technician,
                name=key,
                territory_id=self.territories[territory],
                home_latitude=48.85,
                home_longitude=2.35,
            )
        return self

    async def job(
        self,
        territory: str = "paris",
        service_type: str | None = "leak",
        *,
        status: JobStatus = JobStatus.COMPLETED,
        technician: str | None = None,
        respond_by: dt.datetime = FAR,
        resolve_by: dt.datetime = FAR,
        value_cents: int | None = None,
        origin: uuid.UUID | None = None,
        created_at: dt.datetime | None = None,
        channel: Channel | None = None,
        received_at: dt.datetime | None = None,
        request_of: uuid.UUID | None = None,
    ) -> uuid.UUID:
        """A job; with `channel` and `received_at`, the service request it came from (with `request_of`, the request
        of that job, as a follow-up shares its first visit's); with `technician`, its assignment."""
        request_id = None
        if request_of is not None:
            reader = self.session or self.conn
            assert reader is not None
            request_id = await reader.scalar(
                sa.select(m.Job.service_request_id).where(m.Job.id == request_of)
            )
        if channel is not None:
            assert received_at is not None
            request_id = await self._insert(
                m.ServiceRequest,
                channel=channel,
                customer_id=self.customers[territory],
                site_id=self.sites[territory],
                description="request",
                received_at=received_at,
            )
        extra = {"created_at": created_at} if created_at is not None else {}
        job_id = await self._insert(
            m.Job,
            service_request_id=request_id,
            customer_id=self.customers[territory],
            site_id=self.sites[territory],
            territory_id=self.territories[territory],
            service_type_id=self.service_types[service_type] if service_type else None,
            status=status,
            priority=Priority.NORMAL,
            description="job",
            duration_s=3600,
            respond_by=respond_by,
            resolve_by=resolve_by,
            checklist=[],
            parts=[],
            tools=[],
            suggested_service_type_codes=[],
            origin_job_id=origin,
            origin_kind="follow_up" if origin else None,
            value_cents=value_cents,
            **extra,
        )
        if technician is not None:
            await self._insert(m.Assignment, job_id=job_id, technician_id=self.technicians[technician])
        return job_id

    async def event(
        self, job: uuid.UUID, to_status: JobStatus, at: dt.datetime, *, reported_at: dt.datetime | None = None
    ) -> None:
        await self._insert(
            m.JobStatusEvent, job_id=job, to_status=to_status, occurred_at=at, reported_at=reported_at
        )

    async def appointment(
        self,
        job: uuid.UUID,
        start: dt.datetime,
        end: dt.datetime,
        *,
        status: AppointmentStatus = AppointmentStatus.CONFIRMED,
        created_at: dt.datetime | None = None,
    ) -> None:
        await self._insert(
            m.Appointment,
            job_id=job,
            window_start=start,
            window_end=end,
            status=status,
            created_at=created_at or start - dt.timedelta(days=2),
        )

    async def completion(
        self,
        job: uuid.UUID,
        completed_at: dt.datetime,
        *,
        arrived_at: dt.datetime | None = None,
        reported_at: dt.datetime | None = None,
        outcome: CompletionOutcome = CompletionOutcome.FIXED,
        on_site_s: int | None = None,
        travel_s: int | None = None,
        travel_m: int | None = None,
        technician: str | None = None,
        superseded_at: dt.datetime | None = None,
    ) -> None:
        await self._insert(
            m.JobCompletion,
            job_id=job,
            technician_id=self.technicians[technician] if technician else None,
            outcome=outcome,
            completed_at=completed_at,
            reported_at=reported_at,
            arrived_at=arrived_at,
            on_site_s=on_site_s,
            travel_s=travel_s,
            travel_m=travel_m,
            sign_off=SignOff.NOT_REQUIRED,
            superseded_at=superseded_at,
            created_at=completed_at,
        )

    async def rating(self, job: uuid.UUID, score: int, at: dt.datetime, territory: str = "paris") -> None:
        await self._insert(
            m.Rating, job_id=job, customer_id=self.customers[territory], score=score, rated_at=at
        )

    async def complaint(
        self,
        received_at: dt.datetime,
        *,
        territory: str = "paris",
        resolved_at: dt.datetime | None = None,
        job: uuid.UUID | None = None,
    ) -> None:
        await self._insert(
            m.Complaint,
            customer_id=self.customers[territory],
            job_id=job,
            territory_id=self.territories[territory],
            category=ComplaintCategory.SERVICE,
            channel=Channel.PHONE,
            description="complaint",
            status=ComplaintStatus.RESOLVED if resolved_at else ComplaintStatus.OPEN,
            received_at=received_at,
            respond_by=received_at + dt.timedelta(days=1),
            resolve_by=received_at + dt.timedelta(days=7),
            resolved_at=resolved_at,
        )

    async def shift(
        self, technician: str, starts_at: dt.datetime, ends_at: dt.datetime, *breaks_s: int
    ) -> None:
        shift_id = await self._insert(
            m.Shift, technician_id=self.technicians[technician], starts_at=starts_at, ends_at=ends_at
        )
        for duration in breaks_s:
            await self._insert(
                m.ShiftBreak,
                shift_id=shift_id,
                earliest_start=starts_at,
                latest_end=ends_at,
                duration_s=duration,
            )


async def report(
    sessions: async_sessionmaker[AsyncSession] | AsyncSession,
    start: str,
    end: str,
    *,
    principal: Principal = ADMIN,
    weeks: int = 1,
    now: dt.datetime = NOW,
    settings: dict[str, Any] | None = None,
    **filters: uuid.UUID,
) -> KpiReport:
    """The report over local dates `[start, end]`, after applying `settings` (kpi_settings.update, not committed)
    if given; in a session of its own, or in the one given."""
    if not isinstance(sessions, AsyncSession):
        async with sessions() as session:
            return await report(
                session, start, end, principal=principal, weeks=weeks, now=now, settings=settings, **filters
            )
    if settings:
        await kpi_settings.update(sessions, settings)
    query = KpiQuery(dt.date.fromisoformat(start), dt.date.fromisoformat(end), weeks, **filters)
    return await kpi_report(sessions, principal, query, now=now)


def kpi(found: KpiReport, key: str) -> KpiValue:
    return next(k for k in found.kpis if k.key == key)


def value(found: KpiReport, key: str) -> float | None:
    return kpi(found, key).value
