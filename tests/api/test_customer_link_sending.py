"""SendCustomerLink (issue 6): the office sends a customer a link for one of its jobs, for one purpose.

Each purpose has its precondition (an appointment to confirm, a remote sign-off awaited, a completed job for the
survey, one of the job's complaints); each send queues one message per channel the customer can be reached on,
`suppressed` where they opted out; the answer lists the messages and never the link's token.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession

from domain import links
from domain import models as m
from domain.enums import AppointmentStatus, LinkPurpose
from tests.api.database import Maker, fetch, in_db
from tests.api.test_customer_links import sign_remotely
from tests.api.test_plans import day, local  # noqa: F401 - `day`: tomorrow's shifts and more north jobs
from tests.api.test_slots import slots
from tests.conftest import World

PROBLEM_JSON = "application/problem+json"


def send(client: TestClient[Any], headers: dict[str, str], job: Any, purpose: str, **body: Any) -> Any:
    return client.post(f"/api/jobs/{job}/customer-links", json={"purpose": purpose, **body}, headers=headers)


def sent(response: Any) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def link_of(sessionmaker: Maker, link_id: str) -> m.CustomerLink:
    (link,) = fetch(sessionmaker, sa.select(m.CustomerLink).where(m.CustomerLink.id == uuid.UUID(link_id)))
    return link  # type: ignore[no-any-return]


def kinds_of(sessionmaker: Maker, body: dict[str, Any]) -> set[str]:
    ids = [uuid.UUID(x["id"]) for x in body["messages"]]
    return set(fetch(sessionmaker, sa.select(m.OutboxMessage.kind).where(m.OutboxMessage.id.in_(ids))))


def channels(body: dict[str, Any]) -> dict[str, str]:
    return {x["channel"]: x["state"] for x in body["messages"]}


def work_and_complete_remotely(client: TestClient[Any], auth: Any, job: uuid.UUID) -> None:
    field = auth("tech_n1")
    for to in ("en_route", "on_site", "in_progress"):
        assert (
            client.post(f"/api/jobs/{job}/transitions", json={"to_status": to}, headers=field).status_code
            == 200
        )
    done = client.post(
        f"/api/jobs/{job}/completion", json={"outcome": "fixed", "remote_sign_off": True}, headers=field
    )
    assert done.status_code == 200, done.text


# Confirm ---------------------------------------------------------------------------------------------------------------


def test_confirm_needs_an_appointment_and_then_offers_it_on_every_channel(
    client: TestClient[Any],
    auth: Any,
    day: World,  # noqa: F811
    sessionmaker: Maker,
    snapshot: Any,
) -> None:
    office = auth("disp_north")
    job = day.jobs["north_open"]
    before = snapshot()
    refused = assert_problem(send(client, office, job, "confirm"), 409)
    assert "appointment" in refused["detail"]
    assert snapshot() == before

    async def morning_of_the_planned_day(s: AsyncSession) -> None:
        # The world's window is tomorrow in UTC; the planned day is tomorrow in Paris (they differ near midnight).
        for window in await s.scalars(sa.select(m.JobTimeWindow).where(m.JobTimeWindow.job_id == job)):
            window.starts_at, window.ends_at = local(8), local(12)

    in_db(sessionmaker, morning_of_the_planned_day)
    chosen = next(s for s in slots(client, office, job) if s["feasible"])
    booked = client.post(
        f"/api/jobs/{job}/slots/booking",
        json={"starts_at": chosen["starts_at"], "ends_at": chosen["ends_at"], "offer": True},
        headers=office,
    )
    assert booked.status_code == 200, booked.text
    (appointment,) = fetch(sessionmaker, sa.select(m.Appointment).where(m.Appointment.job_id == job))
    assert appointment.status is AppointmentStatus.OFFERED
    offered = fetch(
        sessionmaker,
        sa.select(m.OutboxMessage).where(
            m.OutboxMessage.job_id == job, m.OutboxMessage.kind == "appointment_offered"
        ),
    )
    assert sorted(x.channel for x in offered) == ["email", "sms"], "booking with `offer` tells the customer"

    again = sent(send(client, office, job, "confirm"))
    assert again["purpose"] == "confirm"
    assert again["job_id"] == str(job)
    assert channels(again) == {"email": "pending", "sms": "pending"}
    assert kinds_of(sessionmaker, again) == {"appointment_offered"}
    link = link_of(sessionmaker, again["link_id"])
    assert link.appointment_id == appointment.id
    assert link.purpose is LinkPurpose.CONFIRM
    assert again["link_id"] != str(offered[0].link_id), "each send is a new link"


def test_confirm_offers_an_appointment_recorded_in_the_database(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: Maker
) -> None:
    job = world.jobs["north_assigned"]
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=2)

    async def appoint(s: AsyncSession) -> uuid.UUID:
        appointment = m.Appointment(
            id=uuid.uuid4(),
            job_id=job,
            window_start=start,
            window_end=start + dt.timedelta(hours=2),
            status=AppointmentStatus.CONFIRMED,
        )
        s.add(appointment)
        return appointment.id

    appointment_id = in_db(sessionmaker, appoint)
    body = sent(send(client, auth("disp_north"), job, "confirm"))
    assert channels(body) == {"email": "pending", "sms": "pending"}
    assert link_of(sessionmaker, body["link_id"]).appointment_id == appointment_id
    assert body["single_use"] is False
    expires = dt.datetime.fromisoformat(body["expires_at"])
    assert dt.datetime.now(dt.UTC) + dt.timedelta(days=1) < expires


# Sign-off and survey ---------------------------------------------------------------------------------------------------


def test_sign_off_only_while_awaited_and_the_survey_only_after_completion(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: Maker, snapshot: Any
) -> None:
    office = auth("disp_north")
    job = world.jobs["north_assigned"]
    before = snapshot()
    assert_problem(send(client, office, job, "sign_off"), 409)
    assert_problem(send(client, office, job, "survey"), 409)
    assert snapshot() == before

    work_and_complete_remotely(client, auth, job)
    asked = sent(send(client, office, job, "sign_off"))
    assert asked["single_use"] is True
    assert kinds_of(sessionmaker, asked) == {"sign_off_requested"}
    assert channels(asked) == {"email": "pending", "sms": "pending"}
    survey = sent(send(client, office, job, "survey"))
    assert kinds_of(sessionmaker, survey) == {"link_survey"}

    # Signed through the link: nothing awaits a sign-off any more.
    sign_remotely(client, sessionmaker)
    before = snapshot()
    assert_problem(send(client, office, job, "sign_off"), 409)
    assert snapshot() == before


# Complaint -------------------------------------------------------------------------------------------------------------


def test_a_complaint_link_names_one_of_the_jobs_complaints(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: Maker, snapshot: Any
) -> None:
    office = auth("disp_north")
    job = world.jobs["north_assigned"]

    def complaint(**about: str) -> str:
        response = client.post(
            "/api/complaints",
            json={"category": "service", "channel": "phone", "description": "Late", **about},
            headers=office,
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    own = complaint(job_id=str(job))
    other_job = complaint(job_id=str(world.jobs["north_open"]))
    no_job = complaint(customer_id=str(world.customers["north"]))
    before = snapshot()
    for body in (
        {},
        {"complaint_id": other_job},
        {"complaint_id": no_job},
        {"complaint_id": str(uuid.uuid4())},
    ):
        refused = assert_problem(send(client, office, job, "complaint", **body), 422)
        assert refused["errors"][0]["field"] == "complaint_id", body
    # Only a complaint link names a complaint.
    assert_problem(send(client, office, job, "track", complaint_id=own), 422)
    assert snapshot() == before

    body = sent(send(client, office, job, "complaint", complaint_id=own))
    assert kinds_of(sessionmaker, body) == {"complaint_link"}
    assert link_of(sessionmaker, body["link_id"]).complaint_id == uuid.UUID(own)


# Channels --------------------------------------------------------------------------------------------------------------


def test_an_opted_out_channel_is_suppressed_and_a_missing_address_gets_no_message(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: Maker
) -> None:
    office = auth("disp_north")
    job = world.jobs["north_assigned"]

    async def opt_out_of_sms(s: AsyncSession) -> None:
        (await s.get_one(m.Customer, world.customers["north"])).sms_opt_out = True

    in_db(sessionmaker, opt_out_of_sms)
    body = sent(send(client, office, job, "track"))
    assert channels(body) == {"email": "pending", "sms": "suppressed"}
    sms = next(x for x in body["messages"] if x["channel"] == "sms")
    assert "opted out" in sms["last_error"]
    (row,) = fetch(sessionmaker, sa.select(m.OutboxMessage).where(m.OutboxMessage.id == uuid.UUID(sms["id"])))
    assert row.next_attempt_at is None, "a suppressed message is never attempted"

    async def drop_email(s: AsyncSession) -> None:
        (await s.get_one(m.Customer, world.customers["north"])).email = None

    in_db(sessionmaker, drop_email)
    body = sent(send(client, office, job, "track"))
    assert channels(body) == {"sms": "suppressed"}
    stored = fetch(
        sessionmaker,
        sa.select(m.OutboxMessage.channel).where(m.OutboxMessage.link_id == uuid.UUID(body["link_id"])),
    )
    assert stored == ["sms"]


def test_the_answer_never_carries_the_token(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: Maker
) -> None:
    office = auth("disp_north")
    job = world.jobs["north_assigned"]
    for purpose in ("track", "request"):
        response = send(client, office, job, purpose)
        body = sent(response)
        assert set(body) == {"link_id", "purpose", "job_id", "expires_at", "single_use", "messages"}
        token = links.token_for(
            client.app.state.server_keys.link_secret, link_of(sessionmaker, body["link_id"])
        )
        assert token not in response.text
        assert "/c/" not in response.text
        assert all(token not in value for value in response.headers.values())
        for message in body["messages"]:
            assert set(message) == {"id", "channel", "state", "last_error"}


# Scope -----------------------------------------------------------------------------------------------------------------


def test_only_the_office_of_the_jobs_territory_sends_links(
    client: TestClient[Any], auth: Any, world: World, snapshot: Any
) -> None:
    before = snapshot()
    assert_problem(send(client, auth("disp_south"), world.jobs["north_assigned"], "track"), 404)
    assert_problem(send(client, auth("disp_north"), world.jobs["south_open"], "track"), 404)
    assert_problem(send(client, auth("disp_north"), uuid.uuid4(), "track"), 404)
    assert_problem(send(client, auth("tech_n1"), world.jobs["north_assigned"], "track"), 403)
    assert snapshot() == before
    assert send(client, auth("admin"), world.jobs["south_open"], "track").status_code == 201
