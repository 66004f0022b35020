"""Early warnings: each kind raised on a hand-made scenario and not raised when not due, raised once over two passes
with one e-mail per dispatcher, refreshed without a second e-mail, cleared with the reason when resolved; two
evaluators at once; ListWarnings and AcknowledgeWarning with their scoping and bad input; the background watch and
the command.

Every pass is called with an explicit `now`: the world's jobs are planned tomorrow (UTC) between 08:00 and 12:00 UTC,
and NOW is 07:00 UTC that day (08:00 or 09:00 in Paris), whatever the hour the suite runs at.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api import cli
from api.app import create_app
from api.settings import Settings
from api.warning_watch import WarningWatch
from domain import models as m
from domain.db import create_engine
from domain.enums import (
    AppointmentStatus,
    Channel,
    ComplaintCategory,
    ComplaintStatus,
    JobStatus,
    Priority,
    WarningKind,
)
from domain.services import warnings
from domain.session import AuditedSession
from domain.warning_conditions import Condition
from tests.api.database import fetch, in_db
from tests.conftest import TODAY, World

PROBLEM_JSON = "application/problem+json"
NOW = TODAY + dt.timedelta(days=1, hours=7)
HOUR = dt.timedelta(hours=1)
MINUTE = dt.timedelta(minutes=1)
Maker = async_sessionmaker[AsyncSession]


# Scenario helpers -------------------------------------------------------------------------------------------------


def evaluate(sessionmaker: Maker, now: dt.datetime = NOW) -> warnings.Report:
    async def go(s: AsyncSession) -> warnings.Report:
        return await warnings.evaluate(s, now=now)

    report: warnings.Report = in_db(sessionmaker, go, actor=warnings.ACTOR)
    return report


def change(sessionmaker: Maker, what: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
    return in_db(sessionmaker, what)


def added(sessionmaker: Maker, row: Any) -> uuid.UUID:
    """Insert `row` (made with its id) in a transaction of its own; its id."""

    async def go(s: AsyncSession) -> None:
        s.add(row)

    change(sessionmaker, go)
    return uuid.UUID(str(row.id))


def all_warnings(sessionmaker: Maker) -> list[m.EarlyWarning]:
    found: list[m.EarlyWarning] = fetch(
        sessionmaker, sa.select(m.EarlyWarning).order_by(m.EarlyWarning.raised_at)
    )
    return found


def open_by_subject(sessionmaker: Maker) -> dict[str, m.EarlyWarning]:
    return {w.subject: w for w in all_warnings(sessionmaker) if w.cleared_at is None}


def e_mails(sessionmaker: Maker) -> list[m.OutboxMessage]:
    found: list[m.OutboxMessage] = fetch(
        sessionmaker,
        sa.select(m.OutboxMessage)
        .where(m.OutboxMessage.kind == "early_warning")
        .order_by(m.OutboxMessage.key),
    )
    return found


async def add_job(
    s: AsyncSession,
    world: World,
    *,
    technician: str = "tech_n1",
    territory: str = "north",
    status: JobStatus = JobStatus.DISPATCHED,
    planned_start: dt.datetime,
    windows: tuple[tuple[dt.datetime, dt.datetime], ...] = (),
    duration: dt.timedelta = HOUR,
    resolve_by: dt.datetime | None = None,
    place: tuple[float, float] = (45.79, 4.85),
    moves: tuple[tuple[JobStatus, dt.datetime], ...] = (),
    sequence: int = 0,
) -> uuid.UUID:
    """A job of the territory's customer at a site of its own, assigned to `technician` with its status moves."""
    site = m.Site(
        id=uuid.uuid4(),
        customer_id=world.customers[territory],
        territory_id=world.territories[territory],
        address=f"{uuid.uuid4().hex[:4]} Rue du Test, Lyon",
        latitude=place[0],
        longitude=place[1],
    )
    s.add(site)
    await s.flush()
    job = m.Job(
        id=uuid.uuid4(),
        customer_id=world.customers[territory],
        site_id=site.id,
        territory_id=world.territories[territory],
        service_type_id=world.service_types["leak-repair"],
        status=status,
        priority=Priority.NORMAL,
        description="Leak under the sink",
        duration_s=int(duration.total_seconds()),
        respond_by=NOW + 24 * HOUR,
        resolve_by=resolve_by or NOW + 72 * HOUR,
        time_windows=[m.JobTimeWindow(starts_at=a, ends_at=b) for a, b in windows],
    )
    s.add(job)
    await s.flush()
    s.add(
        m.Assignment(
            job_id=job.id,
            technician_id=world.technicians[technician],
            planned_start=planned_start,
            sequence=sequence,
        )
    )
    for to, at in moves:
        s.add(m.JobStatusEvent(job_id=job.id, to_status=to, occurred_at=at))
    await s.flush()
    return job.id


def overrun(sessionmaker: Maker, world: World, duration: dt.timedelta = 6 * HOUR) -> uuid.UUID:
    """tech_n1 has been on site since 06:30 at a job that takes `duration`, before `north_assigned` (08:00-12:00)."""

    async def go(s: AsyncSession) -> uuid.UUID:
        return await add_job(
            s,
            world,
            status=JobStatus.ON_SITE,
            planned_start=NOW - HOUR,
            windows=((NOW - HOUR, NOW + HOUR),),
            duration=duration,
            moves=((JobStatus.EN_ROUTE, NOW - 50 * MINUTE), (JobStatus.ON_SITE, NOW - 30 * MINUTE)),
        )

    job_id: uuid.UUID = change(sessionmaker, go)
    return job_id


def set_status(sessionmaker: Maker, job_id: uuid.UUID, status: JobStatus, at: dt.datetime = NOW) -> None:
    async def go(s: AsyncSession) -> None:
        job = await s.get_one(m.Job, job_id)
        s.add(m.JobStatusEvent(job_id=job_id, from_status=job.status, to_status=status, occurred_at=at))
        job.status = status

    change(sessionmaker, go)


def user_id(sessionmaker: Maker, email: str) -> uuid.UUID:
    [found] = fetch(sessionmaker, sa.select(m.User.id).where(m.User.email == email))
    return uuid.UUID(str(found))


def paris_day(t: dt.datetime) -> str:
    return t.astimezone(ZoneInfo("Europe/Paris")).date().isoformat()


# Nothing due ------------------------------------------------------------------------------------------------------


def test_a_day_going_to_plan_raises_nothing(world: World, sessionmaker: Maker) -> None:
    """The world's one dispatched job is reached at 08:00 inside its window; nothing else is near."""
    report = evaluate(sessionmaker)
    assert (report.raised, report.open) == (0, 0)
    assert all_warnings(sessionmaker) == []
    assert e_mails(sessionmaker) == []


# Late arrival and technician behind plan -------------------------------------------------------------------------


def test_an_overrun_on_site_raises_a_late_arrival_once_with_one_e_mail_per_dispatcher(
    world: World, sessionmaker: Maker
) -> None:
    overrun(sessionmaker, world)
    first = evaluate(sessionmaker)
    late = open_by_subject(sessionmaker)[f"late_arrival:{world.jobs['north_assigned']}"]
    assert late.kind is WarningKind.LATE_ARRIVAL
    assert late.job_id == world.jobs["north_assigned"]
    assert late.technician_id == world.technicians["tech_n1"]
    assert late.territory_id == world.territories["north"]
    # On site until 12:30, a drive, then the job whose window closes at 12:00.
    assert late.due_at == NOW + 5 * HOUR
    assert late.details["window_end"] == (NOW + 5 * HOUR).isoformat()
    assert late.details["misses"] == ["window"]
    arrival = dt.datetime.fromisoformat(late.details["predicted_arrival"])
    assert NOW + 5 * HOUR + 30 * MINUTE <= arrival <= NOW + 5 * HOUR + 45 * MINUTE
    assert 30 <= late.details["minutes_late"] <= 45
    assert "after the promised window ends" in late.message

    second = evaluate(sessionmaker)
    assert first.raised == 2  # the late arrival, and tech_n1 behind plan at it
    assert (second.raised, second.updated, second.cleared) == (0, 0, 0)
    assert len(all_warnings(sessionmaker)) == 2
    letters = e_mails(sessionmaker)
    disp_north = user_id(sessionmaker, "disp_north@example.com")
    assert sorted(x.key for x in letters) == sorted(
        f"warning:{w.id}:{disp_north}" for w in all_warnings(sessionmaker)
    )
    assert {(x.channel, x.recipient, x.territory_id) for x in letters} == {
        ("email", "disp_north@example.com", world.territories["north"])
    }
    assert all(x.state.value == "pending" and x.next_attempt_at == NOW for x in letters)
    assert any(late.message in x.body["text"] for x in letters)


def test_the_technician_behind_plan_is_warned_per_technician_and_local_day(
    world: World, sessionmaker: Maker
) -> None:
    overrun(sessionmaker, world)
    evaluate(sessionmaker)
    subject = f"technician_late:{world.technicians['tech_n1']}:{paris_day(NOW)}"
    behind = open_by_subject(sessionmaker)[subject]
    assert behind.kind is WarningKind.TECHNICIAN_LATE
    assert behind.details["next_job_id"] == str(world.jobs["north_assigned"])
    assert behind.details["not_set_out"] is False
    assert behind.details["minutes_behind"] > 4 * 60
    assert behind.message.startswith("tech_n1 is ")


def test_a_technician_not_set_out_past_the_grace_is_behind_and_within_it_is_not(
    world: World, sessionmaker: Maker
) -> None:
    """A job a few steps from tech_n2's home, planned at 06:40: at 06:50 they can still make it within the grace;
    at 07:00 they have not set out 20 minutes after the planned start."""

    async def planned_at(s: AsyncSession) -> uuid.UUID:
        return await add_job(
            s,
            world,
            technician="tech_n2",
            planned_start=NOW - 20 * MINUTE,
            windows=((NOW - HOUR, NOW + 4 * HOUR),),
            place=(45.7505, 4.8405),
        )

    job = change(sessionmaker, planned_at)
    assert evaluate(sessionmaker, now=NOW - 10 * MINUTE).raised == 0
    evaluate(sessionmaker)
    behind = open_by_subject(sessionmaker)[f"technician_late:{world.technicians['tech_n2']}:{paris_day(NOW)}"]
    assert behind.details["not_set_out"] is True
    assert behind.details["minutes_behind"] == 21
    assert behind.job_id == job
    assert "has not set out" in behind.message
    # Set out, they are still 20 minutes behind; arrived, they are at their last job of the day.
    set_status(sessionmaker, job, JobStatus.EN_ROUTE)
    evaluate(sessionmaker, now=NOW + MINUTE)
    assert open_by_subject(sessionmaker)[behind.subject].details["not_set_out"] is False
    set_status(sessionmaker, job, JobStatus.ON_SITE, at=NOW + 2 * MINUTE)
    evaluate(sessionmaker, now=NOW + 2 * MINUTE)
    assert open_by_subject(sessionmaker) == {}
    assert all_warnings(sessionmaker)[0].cleared_reason == "back_on_plan"


def test_a_finish_after_resolve_by_is_a_late_arrival_even_inside_the_window(
    world: World, sessionmaker: Maker
) -> None:
    async def tight(s: AsyncSession) -> uuid.UUID:
        return await add_job(
            s,
            world,
            technician="tech_n2",
            planned_start=NOW + 10 * MINUTE,
            windows=((NOW, NOW + 8 * HOUR),),
            resolve_by=NOW + 30 * MINUTE,
        )

    job = change(sessionmaker, tight)
    evaluate(sessionmaker)
    late = open_by_subject(sessionmaker)[f"late_arrival:{job}"]
    assert late.details["misses"] == ["resolve_by"]
    assert late.due_at == NOW + 30 * MINUTE
    assert "after its resolve-by" in late.message


def test_a_technician_on_the_way_is_predicted_from_where_they_set_out(
    world: World, sessionmaker: Maker
) -> None:
    """From home (45.75, 4.84) to 45.80, 4.90 is about 9 km of road: some 15 minutes, so 5 minutes past a window
    that closes now."""

    async def driving(s: AsyncSession) -> uuid.UUID:
        return await add_job(
            s,
            world,
            technician="tech_n2",
            status=JobStatus.EN_ROUTE,
            planned_start=NOW - 30 * MINUTE,
            windows=((NOW - 2 * HOUR, NOW),),
            place=(45.80, 4.90),
            moves=((JobStatus.EN_ROUTE, NOW - 10 * MINUTE),),
        )

    job = change(sessionmaker, driving)
    evaluate(sessionmaker)
    late = open_by_subject(sessionmaker)[f"late_arrival:{job}"]
    arrival = dt.datetime.fromisoformat(late.details["predicted_arrival"])
    assert NOW + 3 * MINUTE <= arrival <= NOW + 8 * MINUTE
    # Arriving clears it: the window is missed, which is no longer a prediction.
    set_status(sessionmaker, job, JobStatus.ON_SITE, at=NOW + 6 * MINUTE)
    evaluate(sessionmaker, now=NOW + 7 * MINUTE)
    assert f"late_arrival:{job}" not in open_by_subject(sessionmaker)
    [cleared] = [w for w in all_warnings(sessionmaker) if w.kind is WarningKind.LATE_ARRIVAL]
    assert (cleared.cleared_reason, cleared.cleared_at) == ("arrived", NOW + 7 * MINUTE)


def test_the_appointment_is_the_promise_when_there_is_one(world: World, sessionmaker: Maker) -> None:
    """The job's own window runs to 12:00, but the customer confirmed 08:00-09:00: 10:30 on site is late."""
    overrun(sessionmaker, world, duration=3 * HOUR)
    evaluate(sessionmaker)
    assert f"late_arrival:{world.jobs['north_assigned']}" not in open_by_subject(sessionmaker)

    async def appointment(s: AsyncSession) -> None:
        s.add(
            m.Appointment(
                job_id=world.jobs["north_assigned"],
                window_start=NOW + HOUR,
                window_end=NOW + 2 * HOUR,
                status=AppointmentStatus.CONFIRMED,
            )
        )

    change(sessionmaker, appointment)
    evaluate(sessionmaker)
    late = open_by_subject(sessionmaker)[f"late_arrival:{world.jobs['north_assigned']}"]
    assert late.details["window_end"] == (NOW + 2 * HOUR).isoformat()


def test_new_figures_update_the_open_warning_without_a_second_e_mail(
    world: World, sessionmaker: Maker
) -> None:
    current = overrun(sessionmaker, world)
    evaluate(sessionmaker)
    subject = f"late_arrival:{world.jobs['north_assigned']}"
    before = open_by_subject(sessionmaker)[subject]
    letters = len(e_mails(sessionmaker))

    async def longer(s: AsyncSession) -> None:
        (await s.get_one(m.Job, current)).duration_s += 3600

    change(sessionmaker, longer)
    report = evaluate(sessionmaker)
    after = open_by_subject(sessionmaker)[subject]
    assert report.raised == 0
    assert report.updated == 2
    assert after.id == before.id
    assert after.details["minutes_late"] == before.details["minutes_late"] + 60
    assert after.message != before.message
    assert len(e_mails(sessionmaker)) == letters


def test_late_arrivals_clear_when_the_job_is_cancelled_and_behind_when_nothing_is_left(
    world: World, sessionmaker: Maker
) -> None:
    overrun(sessionmaker, world)
    evaluate(sessionmaker)
    set_status(sessionmaker, world.jobs["north_assigned"], JobStatus.CANCELLED)
    report = evaluate(sessionmaker)
    assert report.cleared == 2
    assert open_by_subject(sessionmaker) == {}
    reasons = {w.kind: w.cleared_reason for w in all_warnings(sessionmaker)}
    assert reasons == {WarningKind.LATE_ARRIVAL: "cancelled", WarningKind.TECHNICIAN_LATE: "back_on_plan"}
    # Raised again when late again: a new warning, and a new e-mail.
    set_status(sessionmaker, world.jobs["north_assigned"], JobStatus.DISPATCHED)
    assert evaluate(sessionmaker).raised == 2
    assert len(e_mails(sessionmaker)) == 4


def test_a_late_arrival_clears_when_the_job_is_moved_to_another_day(
    world: World, sessionmaker: Maker
) -> None:
    overrun(sessionmaker, world)
    evaluate(sessionmaker)

    async def tomorrow(s: AsyncSession) -> None:
        assignment = await s.scalar(
            sa.select(m.Assignment).where(m.Assignment.job_id == world.jobs["north_assigned"])
        )
        assert assignment is not None
        assignment.planned_start = NOW + 25 * HOUR

    change(sessionmaker, tomorrow)
    evaluate(sessionmaker)
    [cleared] = [w for w in all_warnings(sessionmaker) if w.kind is WarningKind.LATE_ARRIVAL]
    assert cleared.cleared_reason == "replanned"


def test_the_technician_warning_of_a_past_day_clears_when_the_day_is_over(
    world: World, sessionmaker: Maker
) -> None:
    overrun(sessionmaker, world)
    evaluate(sessionmaker)
    set_status(sessionmaker, world.jobs["north_assigned"], JobStatus.CANCELLED)
    evaluate(sessionmaker, now=NOW + 24 * HOUR)
    [behind] = [w for w in all_warnings(sessionmaker) if w.kind is WarningKind.TECHNICIAN_LATE]
    assert behind.cleared_reason == "day_over"


# Unconfirmed appointments ------------------------------------------------------------------------------------------


def _offer(sessionmaker: Maker, world: World, start: dt.datetime, status: AppointmentStatus) -> uuid.UUID:
    return added(
        sessionmaker,
        m.Appointment(
            id=uuid.uuid4(),
            job_id=world.jobs["north_open"],
            window_start=start,
            window_end=start + 2 * HOUR,
            status=status,
        ),
    )


def test_an_offered_appointment_within_a_day_is_warned_until_confirmed(
    world: World, sessionmaker: Maker
) -> None:
    offered = _offer(sessionmaker, world, NOW + 5 * HOUR, AppointmentStatus.OFFERED)
    evaluate(sessionmaker)
    warning = open_by_subject(sessionmaker)[f"unconfirmed:{offered}"]
    assert warning.kind is WarningKind.UNCONFIRMED_APPOINTMENT
    assert warning.job_id == world.jobs["north_open"]
    assert warning.due_at == NOW + 5 * HOUR
    assert "is not confirmed" in warning.message

    async def confirm(s: AsyncSession) -> None:
        (await s.get_one(m.Appointment, offered)).status = AppointmentStatus.CONFIRMED

    change(sessionmaker, confirm)
    evaluate(sessionmaker)
    [cleared] = all_warnings(sessionmaker)
    assert cleared.cleared_reason == "confirmed"


def test_an_appointment_far_off_begun_or_answered_is_not_warned(world: World, sessionmaker: Maker) -> None:
    _offer(sessionmaker, world, NOW + 30 * HOUR, AppointmentStatus.OFFERED)  # beyond the horizon
    _offer(sessionmaker, world, NOW - HOUR, AppointmentStatus.OFFERED)  # already begun
    _offer(sessionmaker, world, NOW + 5 * HOUR, AppointmentStatus.CONFIRMED)
    _offer(sessionmaker, world, NOW + 5 * HOUR, AppointmentStatus.CANCELLED)
    assert evaluate(sessionmaker).raised == 0


def test_an_unconfirmed_warning_clears_when_the_window_begins(world: World, sessionmaker: Maker) -> None:
    _offer(sessionmaker, world, NOW + 5 * HOUR, AppointmentStatus.OFFERED)
    evaluate(sessionmaker)
    evaluate(sessionmaker, now=NOW + 5 * HOUR + MINUTE)
    [cleared] = [w for w in all_warnings(sessionmaker) if w.kind is WarningKind.UNCONFIRMED_APPOINTMENT]
    assert cleared.cleared_reason == "window_started"


# Complaints ------------------------------------------------------------------------------------------------------


def _complaint(
    sessionmaker: Maker,
    world: World,
    *,
    respond_in: dt.timedelta,
    resolve_in: dt.timedelta,
    territory: str = "north",
) -> uuid.UUID:
    return added(
        sessionmaker,
        m.Complaint(
            id=uuid.uuid4(),
            customer_id=world.customers[territory],
            territory_id=world.territories[territory],
            category=ComplaintCategory.SERVICE,
            channel=Channel.PHONE,
            description="Nobody came",
            status=ComplaintStatus.OPEN,
            received_at=NOW - HOUR,
            respond_by=NOW + respond_in,
            resolve_by=NOW + resolve_in,
            reopen_count=0,
        ),
    )


def test_a_complaint_near_its_response_deadline_is_warned_until_answered(
    world: World, sessionmaker: Maker
) -> None:
    complaint = _complaint(sessionmaker, world, respond_in=HOUR, resolve_in=72 * HOUR)
    evaluate(sessionmaker)
    warning = open_by_subject(sessionmaker)[f"complaint_deadline:{complaint}:respond:0"]
    assert warning.complaint_id == complaint
    assert warning.due_at == NOW + HOUR
    assert warning.details["overdue"] is False
    assert "no response yet" in warning.message

    async def respond(s: AsyncSession) -> None:
        found = await s.get_one(m.Complaint, complaint)
        found.responded_at, found.status = NOW, ComplaintStatus.IN_PROGRESS

    change(sessionmaker, respond)
    evaluate(sessionmaker)
    [cleared] = all_warnings(sessionmaker)
    assert cleared.cleared_reason == "responded"


def test_a_complaint_past_its_resolution_deadline_is_warned_until_resolved(
    world: World, sessionmaker: Maker
) -> None:
    complaint = _complaint(sessionmaker, world, respond_in=-3 * HOUR, resolve_in=-HOUR)

    async def responded(s: AsyncSession) -> None:
        (await s.get_one(m.Complaint, complaint)).responded_at = NOW - 4 * HOUR

    change(sessionmaker, responded)
    evaluate(sessionmaker)
    warning = open_by_subject(sessionmaker)[f"complaint_deadline:{complaint}:resolve:0"]
    assert warning.details["overdue"] is True
    assert "resolve deadline passed" in warning.message

    async def resolve(s: AsyncSession) -> None:
        found = await s.get_one(m.Complaint, complaint)
        found.resolved_at, found.status, found.resolution = NOW, ComplaintStatus.RESOLVED, "Came back"

    change(sessionmaker, resolve)
    evaluate(sessionmaker)
    [cleared] = all_warnings(sessionmaker)
    assert cleared.cleared_reason == "resolved"


def test_a_complaint_with_time_to_spare_is_not_warned(world: World, sessionmaker: Maker) -> None:
    _complaint(sessionmaker, world, respond_in=3 * HOUR, resolve_in=5 * HOUR)
    assert evaluate(sessionmaker).raised == 0


# Sync exceptions -------------------------------------------------------------------------------------------------


def _exception(
    sessionmaker: Maker,
    world: World,
    *,
    age: dt.timedelta,
    technician: str = "tech_n1",
    job: str | None = None,
    now: dt.datetime = NOW,
) -> uuid.UUID:
    return added(
        sessionmaker,
        m.SyncException(
            id=uuid.uuid4(),
            code="clock_skew",
            detail="the device's clock is 20 minutes off",
            job_id=world.jobs[job] if job else None,
            technician_id=world.technicians[technician],
            device_id=uuid.uuid4(),
            mutation_id=1,
            mutation_name="job.status.v1",
            args={},
            occurrences=1,
            created_at=now - age,
        ),
    )


def test_a_sync_exception_nobody_looked_at_for_half_an_hour_is_warned_until_resolved(
    world: World, sessionmaker: Maker
) -> None:
    recent = _exception(sessionmaker, world, age=10 * MINUTE, technician="tech_n1", job="north_assigned")
    old = _exception(sessionmaker, world, age=45 * MINUTE, technician="tech_n1", job="south_open")
    evaluate(sessionmaker)
    # The recent one is not yet a warning.
    assert set(open_by_subject(sessionmaker)) == {f"sync_exception:{old}"}
    assert f"sync_exception:{recent}" not in open_by_subject(sessionmaker)
    warning = open_by_subject(sessionmaker)[f"sync_exception:{old}"]
    # The job's territory decides whose dispatchers look at it, as in the exceptions list.
    assert warning.territory_id == world.territories["south"]
    assert [x.recipient for x in e_mails(sessionmaker)] == ["disp_south@example.com"]

    async def resolve(s: AsyncSession) -> None:
        (await s.get_one(m.SyncException, old)).resolved_at = NOW

    change(sessionmaker, resolve)
    evaluate(sessionmaker)
    assert open_by_subject(sessionmaker) == {}
    assert all_warnings(sessionmaker)[0].cleared_reason == "resolved"


def test_a_territory_without_a_dispatcher_has_its_warnings_sent_to_the_admins(
    world: World, sessionmaker: Maker
) -> None:
    async def leave(s: AsyncSession) -> None:
        (await s.scalar(sa.select(m.User).where(m.User.email == "disp_south@example.com"))).active = False  # type: ignore[union-attr]

    change(sessionmaker, leave)
    _exception(sessionmaker, world, age=HOUR, technician="tech_s1", job=None)
    evaluate(sessionmaker)
    [warning] = all_warnings(sessionmaker)
    assert warning.territory_id == world.territories["south"]
    assert [x.recipient for x in e_mails(sessionmaker)] == ["admin@example.com"]


# Two evaluators ---------------------------------------------------------------------------------------------------


def test_a_second_warning_for_an_open_subject_is_refused_by_the_index_and_tells_nobody(
    world: World, sessionmaker: Maker
) -> None:
    overrun(sessionmaker, world)
    evaluate(sessionmaker)
    letters = len(e_mails(sessionmaker))
    subject = f"late_arrival:{world.jobs['north_assigned']}"
    condition = Condition(
        kind=WarningKind.LATE_ARRIVAL,
        subject=subject,
        territory_id=world.territories["north"],
        message="raised by another evaluator that read before the first committed",
        details={},
        job_id=world.jobs["north_assigned"],
    )

    async def race(s: AsyncSession) -> tuple[Any, int]:
        raised = await warnings.raise_warning(s, condition, now=NOW)
        # The transaction goes on after the refused insert.
        count = await s.scalar(sa.select(sa.func.count()).select_from(m.EarlyWarning))
        return raised, int(count or 0)

    raised, count = change(sessionmaker, race)
    assert raised is None
    assert count == 2
    assert len(e_mails(sessionmaker)) == letters
    assert open_by_subject(sessionmaker)[subject].message != condition.message


def test_two_evaluators_at_once_raise_each_warning_once(
    world: World, sessionmaker: Maker, engine: AsyncEngine
) -> None:
    overrun(sessionmaker, world)
    _complaint(sessionmaker, world, respond_in=HOUR, resolve_in=72 * HOUR)

    async def both() -> list[warnings.Report]:
        async def one() -> warnings.Report:
            async with sessionmaker() as s:
                report = await warnings.evaluate(s, now=NOW)
                await s.commit()
                return report

        return list(await asyncio.gather(one(), one()))

    reports = asyncio.run(both())
    assert sum(r.raised for r in reports) == 3
    assert len(all_warnings(sessionmaker)) == 3
    assert len(e_mails(sessionmaker)) == 3


# ListWarnings and AcknowledgeWarning -----------------------------------------------------------------------------


@pytest.fixture
def raised(world: World, sessionmaker: Maker) -> dict[str, uuid.UUID]:
    """Open warnings in both territories: the north's late arrival and technician, the south's complaint."""
    overrun(sessionmaker, world)
    _complaint(sessionmaker, world, respond_in=HOUR, resolve_in=72 * HOUR, territory="south")
    evaluate(sessionmaker)
    by_kind = {w.kind: w.id for w in all_warnings(sessionmaker)}
    return {
        "late": by_kind[WarningKind.LATE_ARRIVAL],
        "behind": by_kind[WarningKind.TECHNICIAN_LATE],
        "complaint": by_kind[WarningKind.COMPLAINT_DEADLINE],
    }


def _ids(response: Any) -> set[str]:
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


def test_each_dispatcher_lists_the_warnings_of_their_territories_nearest_deadline_first(
    client: TestClient[Any], auth: Any, raised: dict[str, uuid.UUID]
) -> None:
    north = client.get("/api/warnings", headers=auth("disp_north"))
    assert _ids(north) == {str(raised["late"]), str(raised["behind"])}
    body = north.json()
    assert (body["total"], body["limit"], body["offset"]) == (2, 50, 0)
    # tech_n1's next job was planned at 08:00, the late arrival's window closes at 12:00.
    assert [i["kind"] for i in body["items"]] == ["technician_late", "late_arrival"]
    late = body["items"][1]
    assert late["details"]["misses"] == ["window"]
    assert late["acknowledged_at"] is None
    assert late["cleared_at"] is None
    assert _ids(client.get("/api/warnings", headers=auth("disp_south"))) == {str(raised["complaint"])}
    assert len(_ids(client.get("/api/warnings", headers=auth("admin")))) == 3


def test_the_list_filters_by_kind_territory_job_and_pages(
    client: TestClient[Any], auth: Any, world: World, raised: dict[str, uuid.UUID]
) -> None:
    admin = auth("admin")
    assert _ids(client.get("/api/warnings?kind=late_arrival", headers=admin)) == {str(raised["late"])}
    south = world.territories["south"]
    assert _ids(client.get(f"/api/warnings?territory_id={south}", headers=admin)) == {
        str(raised["complaint"])
    }
    # Another territory's filter shows a dispatcher nothing, rather than someone else's warnings.
    assert _ids(client.get(f"/api/warnings?territory_id={south}", headers=auth("disp_north"))) == set()
    job = world.jobs["north_assigned"]
    assert _ids(client.get(f"/api/warnings?job_id={job}", headers=admin)) == {
        str(raised["late"]),
        str(raised["behind"]),
    }
    page = client.get("/api/warnings?limit=1&offset=1", headers=admin).json()
    assert (len(page["items"]), page["total"]) == (1, 3)


def test_acknowledging_records_who_and_when_once(
    client: TestClient[Any], auth: Any, sessionmaker: Maker, raised: dict[str, uuid.UUID], snapshot: Any
) -> None:
    url = f"/api/warnings/{raised['late']}/acknowledge"
    first = client.post(url, headers=auth("disp_north"))
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["acknowledged_by"] == str(user_id(sessionmaker, "disp_north@example.com"))
    assert body["acknowledged_at"] is not None
    before = snapshot()
    again = client.post(url, headers=auth("admin"))
    assert again.status_code == 200
    assert (again.json()["acknowledged_at"], again.json()["acknowledged_by"]) == (
        body["acknowledged_at"],
        body["acknowledged_by"],
    )
    assert snapshot() == before
    listed = client.get("/api/warnings?state=acknowledged", headers=auth("disp_north"))
    assert _ids(listed) == {str(raised["late"])}
    # Acknowledged is still open: it stays on the list until it clears.
    assert str(raised["late"]) in _ids(client.get("/api/warnings", headers=auth("disp_north")))


def test_a_cleared_warning_cannot_be_acknowledged_and_is_listed_as_cleared(
    client: TestClient[Any],
    auth: Any,
    world: World,
    sessionmaker: Maker,
    raised: dict[str, uuid.UUID],
    snapshot: Any,
) -> None:
    set_status(sessionmaker, world.jobs["north_assigned"], JobStatus.CANCELLED)
    evaluate(sessionmaker)
    before = snapshot()
    refused = client.post(f"/api/warnings/{raised['late']}/acknowledge", headers=auth("disp_north"))
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith(PROBLEM_JSON)
    assert "cleared (cancelled)" in refused.json()["detail"]
    assert snapshot() == before
    headers = auth("disp_north")
    assert _ids(client.get("/api/warnings?state=cleared", headers=headers)) == {
        str(raised["late"]),
        str(raised["behind"]),
    }
    assert _ids(client.get("/api/warnings", headers=headers)) == set()
    assert len(_ids(client.get("/api/warnings?state=all", headers=auth("admin")))) == 3
    cleared = client.get("/api/warnings?state=cleared&kind=late_arrival", headers=headers).json()["items"][0]
    assert cleared["cleared_reason"] == "cancelled"


def test_someone_else_s_warning_cannot_be_acknowledged_nor_listed(
    client: TestClient[Any], auth: Any, raised: dict[str, uuid.UUID], snapshot: Any
) -> None:
    before = snapshot()
    url = f"/api/warnings/{raised['late']}/acknowledge"
    for who, status in (("disp_south", 404), ("tech_n1", 403), (None, 401)):
        headers = auth(who) if who else {}
        response = client.post(url, headers=headers)
        assert response.status_code == status, who
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
        if who != "disp_south":
            listed = client.get("/api/warnings", headers=headers)
            assert listed.status_code == status, who
            assert listed.headers["content-type"].startswith(PROBLEM_JSON)
    assert snapshot() == before


def test_bad_input_is_a_4xx_problem(client: TestClient[Any], auth: Any, world: World) -> None:
    queries = [
        "state=closed",
        "state=",
        "kind=late",
        "territory_id=north",
        "job_id=1",
        "limit=0",
        "limit=201",
        "offset=-1",
        "limit=ten",
    ]
    for query in queries:
        response = client.get(f"/api/warnings?{query}", headers=auth("admin"))
        assert response.status_code == 400, (query, response.text)
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
    for warning_id in ("not-a-uuid", str(uuid.uuid4())):
        response = client.post(f"/api/warnings/{warning_id}/acknowledge", headers=auth("disp_north"))
        assert response.status_code == 404
        assert response.headers["content-type"].startswith(PROBLEM_JSON)


def test_a_body_sent_with_an_acknowledgement_changes_nothing_it_says(
    client: TestClient[Any], auth: Any, sessionmaker: Maker, raised: dict[str, uuid.UUID]
) -> None:
    """There is no body to send: whoever and whenever, the server records the caller and its own clock."""
    other = str(user_id(sessionmaker, "admin@example.com"))
    response = client.post(
        f"/api/warnings/{raised['late']}/acknowledge",
        headers=auth("disp_north"),
        json={"acknowledged_by": other, "acknowledged_at": "2000-01-01T00:00:00Z", "cleared_at": None},
    )
    assert response.status_code == 200
    assert response.json()["acknowledged_by"] != other
    assert not response.json()["acknowledged_at"].startswith("2000")


# The watch and the command ---------------------------------------------------------------------------------------


def _stale_exception_now(sessionmaker: Maker, world: World) -> uuid.UUID:
    """A sync exception an hour old by the wall clock: a warning whatever the hour the test runs at."""
    return _exception(sessionmaker, world, age=HOUR, now=dt.datetime.now(dt.UTC))


def test_the_app_s_watch_evaluates_every_interval_and_stops_with_the_app(
    settings: Settings, engine: AsyncEngine, world: World, sessionmaker: Maker
) -> None:
    exception = _stale_exception_now(sessionmaker, world)
    app = create_app(dataclasses.replace(settings, warnings_watch=True, warnings_interval_s=0.05), engine)
    with TestClient(app=app) as client:
        watch = client.app.state.warning_watch
        assert watch.running
        give_up = time.monotonic() + 10
        while time.monotonic() < give_up and not all_warnings(sessionmaker):
            time.sleep(0.05)
        assert [w.sync_exception_id for w in all_warnings(sessionmaker)] == [exception]
    assert not watch.running
    assert watch.failures == 0


def test_the_app_starts_no_watch_unless_asked(settings: Settings, engine: AsyncEngine) -> None:
    with TestClient(app=create_app(settings, engine)) as client:
        assert client.app.state.warning_watch is None


def test_a_failed_pass_is_logged_and_the_next_one_runs(
    world: World, sessionmaker: Maker, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    _stale_exception_now(sessionmaker, world)
    broken = create_engine(f"sqlite:///{tmp_path / 'missing' / 'nowhere.db'}")
    watch = WarningWatch(
        async_sessionmaker(broken, expire_on_commit=False, sync_session_class=AuditedSession), interval_s=60
    )

    async def passes() -> tuple[Any, Any]:
        with caplog.at_level(logging.ERROR, logger="fieldwork.warnings"):
            failed = await watch.run_once()
        watch.sessionmaker = sessionmaker
        return failed, await watch.run_once()

    failed, report = asyncio.run(passes())
    asyncio.run(broken.dispose())
    assert failed is None
    assert (watch.failures, watch.passes) == (1, 1)
    assert "an evaluation pass failed" in caplog.text
    assert report is not None
    assert report.raised == 1


def test_the_watch_needs_a_positive_interval(sessionmaker: Maker) -> None:
    with pytest.raises(ValueError, match="positive"):
        WarningWatch(sessionmaker, interval_s=0)


def test_the_watch_runs_by_default_when_served_and_its_interval_is_set_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().warnings_watch is False
    monkeypatch.delenv("FIELDWORK_WARNINGS_WATCH", raising=False)
    monkeypatch.delenv("FIELDWORK_WARNINGS_INTERVAL_S", raising=False)
    served = Settings.from_env(jwt_secret="x" * 32)
    assert (served.warnings_watch, served.warnings_interval_s) == (True, 60.0)
    monkeypatch.setenv("FIELDWORK_WARNINGS_WATCH", "0")
    monkeypatch.setenv("FIELDWORK_WARNINGS_INTERVAL_S", "2.5")
    assert (
        Settings.from_env(jwt_secret="x" * 32).warnings_watch,
        Settings.from_env(jwt_secret="x" * 32).warnings_interval_s,
    ) == (False, 2.5)


def test_the_command_runs_one_pass(
    database_url: str,
    world: World,
    sessionmaker: Maker,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)  # the command sets it; put it back afterwards
    _stale_exception_now(sessionmaker, world)
    assert cli.main(["--database-url", database_url, "warnings"]) == 0
    assert "early warnings: 1 raised (1 e-mails queued)" in capsys.readouterr().out
    assert cli.main(["--database-url", database_url, "warnings"]) == 0
    assert "early warnings: 0 raised" in capsys.readouterr().out
    assert len(all_warnings(sessionmaker)) == 1
