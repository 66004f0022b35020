"""Completing a job (issue 6): online with CompleteJob, offline with `job.complete.v1` through the reference client.

A completion needs every checklist item answered and the customer's signature (or a remote sign-off); it records
the outcome and the times of the visit, seals the job, creates the follow-up job when one is needed, and tells the
customer once. The world's jobs have no checklist: the tests that need one give it in the database, the way a
triage with a service type would.
"""

from __future__ import annotations

import datetime as dt
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from geopy.distance import great_circle
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession

from domain import models as m
from domain.enums import JobStatus, LinkPurpose, MessageState, SealKind, SignOff
from tests.api.database import Maker, fetch, in_db
from tests.conftest import World
from tests.sync.devices import phone

PROBLEM_JSON = "application/problem+json"
CHECKLIST = ["Water isolated", "Repair tested"]


# Helpers ----------------------------------------------------------------------------------------------------------


def give_checklist(sessionmaker: Maker, job_id: uuid.UUID, items: list[str]) -> None:
    async def go(s: AsyncSession) -> None:
        (await s.get_one(m.Job, job_id)).checklist = list(items)

    in_db(sessionmaker, go)


def sign_on_site(sessionmaker: Maker, world: World, job_id: uuid.UUID) -> None:
    """The customer's signature as the phone records it on site (the image itself is uploaded separately)."""

    async def go(s: AsyncSession) -> None:
        s.add(
            m.JobSignature(
                job_id=job_id,
                technician_id=world.technicians["tech_n1"],
                sha256="a" * 64,
                signer_name="Customer North",
                captured_at=dt.datetime.now(dt.UTC),
            )
        )

    in_db(sessionmaker, go)


def move(
    client: TestClient[Any], headers: dict[str, str], job: Any, to: str, reason: str | None = None
) -> Any:
    body: dict[str, Any] = {"to_status": to}
    if reason:
        body["reason"] = reason
    return client.post(f"/api/jobs/{job}/transitions", json=body, headers=headers)


def start_work(client: TestClient[Any], headers: dict[str, str], job: Any) -> None:
    """dispatched -> en_route -> on_site -> in_progress, as the technician."""
    for to in ("en_route", "on_site", "in_progress"):
        response = move(client, headers, job, to)
        assert response.status_code == 200, (to, response.text)


def complete(client: TestClient[Any], headers: dict[str, str], job: Any, **body: Any) -> Any:
    return client.post(f"/api/jobs/{job}/completion", json={"outcome": "fixed", **body}, headers=headers)


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def job_status(sessionmaker: Maker, job_id: uuid.UUID) -> JobStatus:
    (status,) = fetch(sessionmaker, sa.select(m.Job.status).where(m.Job.id == job_id))
    return status  # type: ignore[no-any-return]


def messages(sessionmaker: Maker, job_id: uuid.UUID, kind: str) -> list[m.OutboxMessage]:
    return fetch(
        sessionmaker,
        sa.select(m.OutboxMessage).where(m.OutboxMessage.job_id == job_id, m.OutboxMessage.kind == kind),
    )


def at(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


# Online: what is missing -------------------------------------------------------------------------------------------


def test_completion_is_refused_naming_each_unanswered_item_and_the_missing_signature(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: Maker, snapshot: Any
) -> None:
    job = world.jobs["north_assigned"]
    give_checklist(sessionmaker, job, CHECKLIST)
    field = auth("tech_n1")
    start_work(client, field, job)
    before = snapshot()

    refused = assert_problem(complete(client, field, job), 409)
    missing = refused["missing"]
    assert len(missing) == 3, missing
    assert [item for item in CHECKLIST if any(f"'{item}'" in entry for entry in missing)] == CHECKLIST
    assert any("signature" in entry for entry in missing)

    # An answer given with a refused completion covers its item but is not kept: the request changed nothing.
    partial = assert_problem(
        complete(client, field, job, answers={"Water isolated": True, "Repair tested": ""}), 409
    )
    assert not any("'Water isolated'" in entry for entry in partial["missing"])
    assert any("'Repair tested'" in entry for entry in partial["missing"]), "an empty answer is no answer"
    assert any("signature" in entry for entry in partial["missing"])
    assert snapshot() == before
    assert job_status(sessionmaker, job) is JobStatus.IN_PROGRESS


def test_answers_given_with_the_completion_satisfy_the_checklist_and_the_completion_is_sealed(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: Maker
) -> None:
    job = world.jobs["north_assigned"]
    give_checklist(sessionmaker, job, CHECKLIST)
    sign_on_site(sessionmaker, world, job)
    field = auth("tech_n1")
    start_work(client, field, job)

    answers = {"Water isolated": True, "Repair tested": "no drip after 10 minutes"}
    done = complete(client, field, job, answers=answers, summary="Trap seal replaced")
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["status"] == "completed"
    assert body["sign_off"] == "on_site"
    assert body["follow_up_job_id"] is None
    assert body["certificate_url"] == f"/api/jobs/{job}/certificate"
    assert job_status(sessionmaker, job) is JobStatus.COMPLETED

    stored = fetch(sessionmaker, sa.select(m.JobFieldValue).where(m.JobFieldValue.job_id == job))
    assert {v.name: v.value for v in stored} == answers
    assert {v.technician_id for v in stored} == {world.technicians["tech_n1"]}

    (seal,) = fetch(sessionmaker, sa.select(m.Seal).where(m.Seal.job_id == job))
    assert seal.kind is SealKind.COMPLETION
    assert seal.payload["job_id"] == str(job)
    assert seal.payload["record"]["answers"] == answers
    assert seal.payload["record"]["completion"]["summary"] == "Trap seal replaced"

    # Signed on site: the customer gets the certificate and the survey, not a sign-off request.
    assert {x.channel for x in messages(sessionmaker, job, "job_completed")} == {"email", "sms"}
    assert {x.channel for x in messages(sessionmaker, job, "survey")} == {"email", "sms"}
    assert messages(sessionmaker, job, "sign_off_requested") == []


def test_an_answer_to_an_item_not_on_the_checklist_is_422_and_changes_nothing(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: Maker, snapshot: Any
) -> None:
    job = world.jobs["north_assigned"]
    give_checklist(sessionmaker, job, CHECKLIST)
    field = auth("tech_n1")
    start_work(client, field, job)
    before = snapshot()
    refused = assert_problem(
        complete(
            client,
            field,
            job,
            answers={"Water isolated": True, "Repair tested": True, "Roof inspected": True},
            remote_sign_off=True,
        ),
        422,
    )
    assert "Roof inspected" in refused["detail"]
    assert [e["field"] for e in refused["errors"]] == ["answers"]
    assert snapshot() == before
    assert job_status(sessionmaker, job) is JobStatus.IN_PROGRESS


def test_remote_sign_off_completes_pending_and_sends_the_customer_a_single_use_link(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: Maker
) -> None:
    job = world.jobs["north_assigned"]
    field = auth("tech_n1")
    start_work(client, field, job)
    done = complete(client, field, job, remote_sign_off=True)
    assert done.status_code == 200, done.text
    assert done.json()["sign_off"] == "remote_pending"
    assert done.json()["status"] == "completed"

    asked = messages(sessionmaker, job, "sign_off_requested")
    assert sorted(x.channel for x in asked) == ["email", "sms"]
    assert {x.state for x in asked} == {MessageState.PENDING}
    assert {x.recipient for x in asked} == {"customer.north@example.net", "+336123445781"}
    (link,) = fetch(sessionmaker, sa.select(m.CustomerLink).where(m.CustomerLink.id == asked[0].link_id))
    assert link.purpose is LinkPurpose.SIGN_OFF
    assert link.single_use is True
    assert link.job_id == job
    # Nothing is signed yet: the certificate and the survey wait for the customer.
    assert messages(sessionmaker, job, "job_completed") == []
    assert messages(sessionmaker, job, "survey") == []


# Online: follow-up ---------------------------------------------------------------------------------------------------


def test_a_follow_up_without_a_reason_is_422_and_changes_nothing(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: Maker, snapshot: Any
) -> None:
    job = world.jobs["north_assigned"]
    field = auth("tech_n1")
    start_work(client, field, job)
    before = snapshot()
    for extra in ({}, {"follow_up_reason": "   "}, {"follow_up_reason": None}):
        refused = assert_problem(
            complete(client, field, job, outcome="follow_up", remote_sign_off=True, **extra), 422
        )
        assert [e["field"] for e in refused["errors"]] == ["follow_up_reason"], extra
    assert snapshot() == before
    assert job_status(sessionmaker, job) is JobStatus.IN_PROGRESS


def test_a_follow_up_creates_the_follow_up_job_like_the_first_with_deadlines_from_now(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: Maker
) -> None:
    job = world.jobs["north_assigned"]
    give_checklist(sessionmaker, job, CHECKLIST)
    # The follow-up's deadlines come from the SLA policy of its priority (the world's jobs are `normal`).
    policy = client.put(
        "/api/sla-policies/normal",
        json={"respond_within_s": 3600, "resolve_within_s": 7200},
        headers=auth("admin"),
    )
    assert policy.status_code == 200, policy.text
    field = auth("tech_n1")
    start_work(client, field, job)

    before = dt.datetime.now(dt.UTC)
    done = complete(
        client,
        field,
        job,
        outcome="follow_up",
        follow_up_reason="  Valve body cracked: a new one is ordered  ",
        answers={"Water isolated": True, "Repair tested": True},
        remote_sign_off=True,
    )
    after = dt.datetime.now(dt.UTC)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["outcome"] == "follow_up"
    assert body["follow_up_reason"] == "Valve body cracked: a new one is ordered"
    follow_up_id = uuid.UUID(body["follow_up_job_id"])

    async def load(s: AsyncSession) -> tuple[m.Job, m.Job, m.JobCompletion]:
        first = await s.get_one(m.Job, job)
        second = await s.get_one(m.Job, follow_up_id)
        done = await s.scalar(sa.select(m.JobCompletion).where(m.JobCompletion.job_id == job))
        assert done is not None
        return first, second, done

    first, second, completion = in_db(sessionmaker, load)
    assert completion.follow_up_job_id == follow_up_id
    assert second.status is JobStatus.NEW
    assert second.origin_job_id == job
    assert second.origin_kind == "follow_up"
    for same in ("customer_id", "site_id", "territory_id", "service_type_id", "priority", "duration_s"):
        assert getattr(second, same) == getattr(first, same), same
    assert second.checklist == CHECKLIST
    assert {(r.skill_id, r.min_level) for r in second.required_skills} == {(world.skills["plumbing"], 2)}
    assert "Valve body cracked: a new one is ordered" in second.description
    assert second.assignment is None
    assert before + dt.timedelta(hours=1) <= second.respond_by <= after + dt.timedelta(hours=1)
    assert before + dt.timedelta(hours=2) <= second.resolve_by <= after + dt.timedelta(hours=2)

    # The office sees the new job in its intake; the technician does not hold it.
    office = client.get(f"/api/jobs/{follow_up_id}", headers=auth("disp_north"))
    assert office.status_code == 200
    assert office.json()["status"] == "new"
    assert client.get(f"/api/jobs/{follow_up_id}", headers=field).status_code == 404


# Online: times -----------------------------------------------------------------------------------------------------


def test_time_on_site_and_travel_are_measured_from_the_status_moves(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: Maker
) -> None:
    job = world.jobs["north_assigned"]
    field = auth("tech_n1")
    start_work(client, field, job)
    now = dt.datetime.now(dt.UTC)
    when = {
        JobStatus.EN_ROUTE: now - dt.timedelta(hours=2),
        JobStatus.ON_SITE: now - dt.timedelta(minutes=90),
        JobStatus.IN_PROGRESS: now - dt.timedelta(minutes=80),
    }

    async def backdate(s: AsyncSession) -> None:
        for event in await s.scalars(sa.select(m.JobStatusEvent).where(m.JobStatusEvent.job_id == job)):
            if event.to_status in when:
                event.occurred_at = when[event.to_status]

    in_db(sessionmaker, backdate)
    done = complete(client, field, job, remote_sign_off=True)
    assert done.status_code == 200, done.text
    assert done.json()["travel_s"] == 30 * 60
    assert 90 * 60 <= done.json()["on_site_s"] <= 90 * 60 + 60
    assert dt.datetime.fromisoformat(done.json()["arrived_at"]) == when[JobStatus.ON_SITE]
    # From the technician's home base (no job completed before), by road: the straight line and a third.
    home, site = (45.75, 4.84), (45.781, 4.84)
    assert done.json()["travel_m"] == round(great_circle(home, site).meters * 1.3)


# Online: who may complete, and when -----------------------------------------------------------------------------


def test_only_the_jobs_technician_completes_it_once_while_it_is_in_progress(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: Maker, snapshot: Any
) -> None:
    job = world.jobs["north_assigned"]
    field = auth("tech_n1")
    before = snapshot()
    not_started = assert_problem(complete(client, field, job, remote_sign_off=True), 409)
    assert not_started["current_status"] == "dispatched"
    assert snapshot() == before

    start_work(client, field, job)
    before = snapshot()
    for who, status in (("tech_n2", 404), ("tech_s1", 404), ("disp_north", 403), ("admin", 403)):
        assert_problem(complete(client, auth(who), job, remote_sign_off=True), status)
    assert_problem(complete(client, field, uuid.uuid4(), remote_sign_off=True), 404)
    # The plain status move is not how a job completes: it is refused and points to CompleteJob.
    plain = assert_problem(move(client, field, job, "completed"), 409)
    assert "CompleteJob" in plain["detail"]
    assert snapshot() == before

    assert complete(client, field, job, remote_sign_off=True).status_code == 200
    before = snapshot()
    assert_problem(complete(client, field, job, remote_sign_off=True), 409)
    assert snapshot() == before
    assert len(fetch(sessionmaker, sa.select(m.JobCompletion).where(m.JobCompletion.job_id == job))) == 1


def test_two_completions_sent_at_once_complete_the_job_once(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: Maker
) -> None:
    """A double tap on a slow network: one completion, one refusal, the customer told once."""
    job = world.jobs["north_assigned"]
    field = auth("tech_n1")
    start_work(client, field, job)
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(
            pool.map(
                lambda summary: complete(client, field, job, summary=summary, remote_sign_off=True), "ab"
            )
        )
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    assert len(fetch(sessionmaker, sa.select(m.JobCompletion).where(m.JobCompletion.job_id == job))) == 1
    seals = fetch(sessionmaker, sa.select(m.Seal.kind).where(m.Seal.job_id == job))
    assert seals == [SealKind.COMPLETION]
    assert sorted(x.channel for x in messages(sessionmaker, job, "sign_off_requested")) == ["email", "sms"]


def test_a_reopened_job_worked_again_can_be_completed_again(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: Maker
) -> None:
    """The customer (or the office) reopens a completed job; the technician goes back, fixes it and completes it."""
    job = world.jobs["north_assigned"]
    field, office = auth("tech_n1"), auth("disp_north")
    start_work(client, field, job)
    assert complete(client, field, job, remote_sign_off=True).status_code == 200
    for to in ("reopened", "scheduled", "dispatched"):
        response = move(client, office, job, to, reason="still dripping")
        assert response.status_code == 200, (to, response.text)
    start_work(client, field, job)
    again = complete(client, field, job, remote_sign_off=True, summary="Second visit: valve replaced")
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "completed"


# Offline: job.complete.v1 ------------------------------------------------------------------------------------------


def test_offline_completion_with_the_checklist_unanswered_is_rejected_and_the_job_stays_in_progress(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: Maker, tmp_path: Path
) -> None:
    job = world.jobs["north_assigned"]
    give_checklist(sessionmaker, job, CHECKLIST)
    device = phone(client, auth("tech_n1"), tmp_path / "phone.db")
    device.sync()
    for to in ("en_route", "on_site", "in_progress"):
        device.transition(str(job), to)
    device.set_fields(str(job), {"Water isolated": True})
    device.capture_signature(str(job), b"\x89PNG signature", "Customer North")
    completed = device.complete(str(job), summary="done")
    # An older client completes by a plain move: the same rules hold.
    plain = device.transition(str(job), "completed")
    device.sync()

    results = device.results()
    for refused in (completed, plain):
        assert results[refused]["result"] == "rejected", results[refused]
        assert results[refused]["code"] == "incomplete"
        assert "'Repair tested'" in results[refused]["detail"]
        assert "'Water isolated'" not in results[refused]["detail"]
    assert {results[i]["result"] for i in results if i not in (completed, plain)} == {"applied"}
    assert job_status(sessionmaker, job) is JobStatus.IN_PROGRESS
    assert device.rows("jobs")[str(job)]["status"] == "in_progress"
    assert fetch(sessionmaker, sa.select(m.JobCompletion).where(m.JobCompletion.job_id == job)) == []
    kinds = fetch(sessionmaker, sa.select(m.Seal.kind).where(m.Seal.job_id == job))
    assert SealKind.COMPLETION not in kinds
    assert messages(sessionmaker, job, "job_completed") == []


def test_offline_completion_answered_and_signed_is_applied_and_tells_the_customer_once(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: Maker, tmp_path: Path, snapshot: Any
) -> None:
    job = world.jobs["north_assigned"]
    give_checklist(sessionmaker, job, CHECKLIST)
    device = phone(client, auth("tech_n1"), tmp_path / "phone.db")
    device.sync()
    for to in ("en_route", "on_site", "in_progress"):
        device.transition(str(job), to)
    device.set_fields(str(job), {"Water isolated": True, "Repair tested": True})
    device.capture_signature(str(job), b"\x89PNG signature", "Customer North")
    completed = device.complete(str(job), summary="Trap seal replaced")
    device.sync()
    assert device.results()[completed]["result"] == "applied", device.results()[completed]
    assert job_status(sessionmaker, job) is JobStatus.COMPLETED
    assert device.rows("jobs")[str(job)]["status"] == "completed"
    (done,) = fetch(sessionmaker, sa.select(m.JobCompletion).where(m.JobCompletion.job_id == job))
    assert done.sign_off is SignOff.ON_SITE
    assert done.summary == "Trap seal replaced"
    assert done.technician_id == world.technicians["tech_n1"]

    def told() -> dict[str, list[str]]:
        return {
            kind: sorted(x.channel for x in messages(sessionmaker, job, kind))
            for kind in ("job_completed", "survey")
        }

    assert told() == {"job_completed": ["email", "sms"], "survey": ["email", "sms"]}

    # The phone sends the completion again under a new mutation id (the user tapped twice): nothing more happens.
    before = snapshot()
    again = device.record(
        "job.complete.v1",
        {
            "job_id": str(job),
            "epoch": device.epoch(str(job)),
            "outcome": "fixed",
            "summary": "Trap seal replaced",
        },
    )
    device.push()
    assert device.results()[again]["result"] == "applied"
    assert told() == {"job_completed": ["email", "sms"], "survey": ["email", "sms"]}
    after = snapshot()
    for table in ("job_completions", "seals", "outbox", "customer_links", "job_status_events", "jobs"):
        assert after[table] == before[table], table


def test_offline_times_are_taken_on_the_devices_clock(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: Maker, tmp_path: Path
) -> None:
    """The moves reach the server together, hours after they happened: the device's times measure the visit."""
    job = str(world.jobs["north_assigned"])
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    device_time = [now]
    device = phone(client, auth("tech_n1"), tmp_path / "phone.db", clock=lambda: device_time[0])
    device.sync()
    for to, ago in (("en_route", 180), ("on_site", 120), ("in_progress", 110)):
        device_time[0] = now - dt.timedelta(minutes=ago)
        device.transition(job, to)
    device_time[0] = now - dt.timedelta(minutes=30)
    device.record(
        "job.complete.v1",
        {
            "job_id": job,
            "epoch": device.epoch(job),
            "outcome": "fixed",
            "remote_sign_off": True,
            "completed_at": (now - dt.timedelta(minutes=30)).isoformat(),
        },
    )
    device_time[0] = now
    device.sync()
    assert {r["result"] for r in device.results().values()} == {"applied"}, device.results()
    (done,) = fetch(sessionmaker, sa.select(m.JobCompletion).where(m.JobCompletion.job_id == uuid.UUID(job)))
    assert done.travel_s == 60 * 60
    assert done.on_site_s == 90 * 60
    assert done.arrived_at == now - dt.timedelta(minutes=120)
    assert done.reported_at == now - dt.timedelta(minutes=30)
    assert done.sign_off is SignOff.REMOTE_PENDING
