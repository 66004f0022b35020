"""Customer links over HTTP: what each link opens and changes, and everything a link must not do.

The browser's view of the same pages is in tests/e2e/test_customer_pages.py; here the rules are checked one by
one: a GET never changes anything, a made-up / altered / expired / spent / replaced link or one used for another
purpose opens nothing and changes nothing, a form with a field the page never sends is refused, and a link is no
bearer token.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import struct
import uuid
import zlib
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain import links
from domain import models as m
from domain.enums import AppointmentStatus, ComplaintStatus, JobStatus, LinkPurpose, SignOff
from tests.conftest import World

HTML = {"Accept": "text/html"}


def tiny_png() -> bytes:
    """A real 1x1 PNG, as a signature pad would send (smallest valid file)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x00"))
        + chunk(b"IEND", b"")
    )


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def token_of(
    client: TestClient[Any], sessionmaker: async_sessionmaker[AsyncSession], purpose: LinkPurpose
) -> str:
    """The newest link of that purpose, as the customer received it."""

    async def newest() -> m.CustomerLink:
        async with sessionmaker() as s:
            found = await s.scalar(
                sa.select(m.CustomerLink)
                .where(m.CustomerLink.purpose == purpose)
                .order_by(m.CustomerLink.created_at.desc())
                .limit(1)
            )
            assert found is not None, f"no {purpose} link was made"
            return found

    return links.token_for(client.app.state.server_keys.link_secret, run(newest()))


def offer(sessionmaker: async_sessionmaker[AsyncSession], world: World) -> uuid.UUID:
    """An appointment offered for the dispatched job, with its confirm link queued for the customer."""
    from domain.services import customer_notices

    async def go() -> uuid.UUID:
        async with sessionmaker() as s:
            job = await s.get_one(m.Job, world.jobs["north_assigned"])
            start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=1)
            appointment = m.Appointment(
                id=uuid.uuid4(),
                job_id=job.id,
                window_start=start,
                window_end=start + dt.timedelta(hours=2),
                status=AppointmentStatus.OFFERED,
            )
            s.add(appointment)
            await s.flush()
            await customer_notices.appointment_offered(
                s, job, appointment, now=dt.datetime.now(dt.UTC), by=None
            )
            await s.commit()
            return appointment.id

    result: uuid.UUID = run(go())
    return result


def complete_remotely(client: TestClient[Any], auth: Any, world: World) -> str:
    """The technician completes the dispatched job without the customer there: a sign-off link goes out."""
    job = str(world.jobs["north_assigned"])
    field = auth("tech_n1")
    for to in ("en_route", "on_site", "in_progress"):
        assert (
            client.post(f"/api/jobs/{job}/transitions", json={"to_status": to}, headers=field).status_code
            == 200
        )
    done = client.post(
        f"/api/jobs/{job}/completion",
        json={"outcome": "fixed", "summary": "Replaced the washer", "remote_sign_off": True},
        headers=field,
    )
    assert done.status_code == 200, done.text
    assert done.json()["sign_off"] == "remote_pending"
    return job


def sign_remotely(client: TestClient[Any], sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    token = token_of(client, sessionmaker, LinkPurpose.SIGN_OFF)
    image = "data:image/png;base64," + base64.b64encode(tiny_png()).decode()
    signed = client.post(f"/c/{token}/sign", data={"signer_name": "Ada North", "image": image}, headers=HTML)
    assert signed.status_code == 200, signed.text


async def _one(sessionmaker: async_sessionmaker[AsyncSession], stmt: Any) -> Any:
    async with sessionmaker() as s:
        return await s.scalar(stmt)


def one(sessionmaker: async_sessionmaker[AsyncSession], stmt: Any) -> Any:
    return run(_one(sessionmaker, stmt))


def test_a_confirm_link_shows_the_offer_and_confirming_changes_only_that_appointment(
    client: TestClient[Any], world: World, sessionmaker: async_sessionmaker[AsyncSession], snapshot: Any
) -> None:
    appointment_id = offer(sessionmaker, world)
    token = token_of(client, sessionmaker, LinkPurpose.CONFIRM)
    before = snapshot()
    page = client.get(f"/c/{token}", headers=HTML)
    assert page.status_code == 200
    assert "Confirm this time" in page.text
    assert "Customer north" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert snapshot() == before, "opening a link changed something"

    confirmed = client.post(f"/c/{token}/confirm", headers=HTML, follow_redirects=False)
    assert confirmed.status_code == 303
    assert confirmed.headers["location"] == f"/c/{token}"
    appointment = one(sessionmaker, sa.select(m.Appointment).where(m.Appointment.id == appointment_id))
    assert appointment.status is AppointmentStatus.CONFIRMED
    kinds = set(
        run(
            _all(
                sessionmaker,
                sa.select(m.OutboxMessage.kind).where(m.OutboxMessage.job_id == appointment.job_id),
            )
        )
    )
    assert {"appointment_offered", "appointment_confirmed"} <= kinds
    # Confirming again is harmless: nothing more is queued.
    queued = snapshot()["outbox"]
    assert client.post(f"/c/{token}/confirm", headers=HTML).status_code == 200
    assert snapshot()["outbox"] == queued


async def _all(sessionmaker: async_sessionmaker[AsyncSession], stmt: Any) -> list[Any]:
    async with sessionmaker() as s:
        return list(await s.scalars(stmt))


@pytest.mark.parametrize(
    ("mangle", "status", "title"),
    [
        (lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), 404, "This link is not valid"),
        (lambda t: t[:10] + t[11:] + "x", 404, "This link is not valid"),
        (lambda t: "x" * 43, 404, "This link is not valid"),
        (lambda t: t + "extra", 404, "This link is not valid"),
        (
            lambda t: base64.urlsafe_b64encode(uuid.uuid4().bytes * 2).decode().rstrip("="),
            404,
            "This link is not valid",
        ),
    ],
)
def test_a_made_up_or_altered_link_opens_nothing_and_changes_nothing(
    client: TestClient[Any],
    world: World,
    sessionmaker: async_sessionmaker[AsyncSession],
    snapshot: Any,
    mangle: Any,
    status: int,
    title: str,
) -> None:
    offer(sessionmaker, world)
    token = mangle(token_of(client, sessionmaker, LinkPurpose.CONFIRM))
    before = snapshot()
    page = client.get(f"/c/{token}", headers=HTML)
    assert page.status_code == status
    assert title in page.text
    assert page.headers["content-type"].startswith("text/html")
    posted = client.post(f"/c/{token}/confirm", headers=HTML)
    assert posted.status_code == status
    assert snapshot() == before


def test_an_expired_link_says_so_and_changes_nothing(
    client: TestClient[Any], world: World, sessionmaker: async_sessionmaker[AsyncSession], snapshot: Any
) -> None:
    appointment_id = offer(sessionmaker, world)
    token = token_of(client, sessionmaker, LinkPurpose.CONFIRM)

    async def expire() -> None:
        async with sessionmaker() as s:
            await s.execute(
                sa.update(m.CustomerLink).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
            )
            await s.commit()

    run(expire())
    before = snapshot()
    page = client.get(f"/c/{token}", headers=HTML)
    assert page.status_code == 410
    assert "expired" in page.text
    assert client.post(f"/c/{token}/confirm", headers=HTML).status_code == 410
    assert snapshot() == before
    appointment = one(sessionmaker, sa.select(m.Appointment).where(m.Appointment.id == appointment_id))
    assert appointment.status is AppointmentStatus.OFFERED


def test_a_link_for_a_replaced_appointment_opens_nothing(
    client: TestClient[Any], world: World, sessionmaker: async_sessionmaker[AsyncSession], snapshot: Any
) -> None:
    first = offer(sessionmaker, world)
    old = token_of(client, sessionmaker, LinkPurpose.CONFIRM)

    async def replace() -> None:
        async with sessionmaker() as s:
            await s.execute(
                sa.update(m.Appointment)
                .where(m.Appointment.id == first)
                .values(status=AppointmentStatus.RESCHEDULED)
            )
            await s.commit()

    run(replace())
    second = offer(sessionmaker, world)
    new = token_of(client, sessionmaker, LinkPurpose.CONFIRM)
    before = snapshot()
    refused = client.post(f"/c/{old}/confirm", headers=HTML)
    assert refused.status_code == 410
    assert "replaced" in refused.text
    assert snapshot() == before
    # The new link confirms the new appointment, and only it.
    assert client.post(f"/c/{new}/confirm", headers=HTML).status_code == 200
    statuses = dict(
        run(
            _rows(
                sessionmaker,
                sa.select(m.Appointment.id, m.Appointment.status).where(
                    m.Appointment.id.in_([first, second])
                ),
            )
        )
    )
    assert statuses == {first: AppointmentStatus.RESCHEDULED, second: AppointmentStatus.CONFIRMED}


async def _rows(sessionmaker: async_sessionmaker[AsyncSession], stmt: Any) -> list[Any]:
    async with sessionmaker() as s:
        return list((await s.execute(stmt)).tuples())


def test_a_link_does_only_what_its_purpose_allows(
    client: TestClient[Any], world: World, sessionmaker: async_sessionmaker[AsyncSession], snapshot: Any
) -> None:
    offer(sessionmaker, world)
    token = token_of(client, sessionmaker, LinkPurpose.CONFIRM)
    before = snapshot()
    for path, form in (
        ("rating", {"score": "1"}),
        ("complaint", {"category": "billing", "description": "too dear"}),
        ("verdict", {"satisfied": "no"}),
        ("sign", {"signer_name": "X", "image": "data:image/png;base64,AAAA"}),
        ("refuse", {"reason": "not done"}),
    ):
        response = client.post(f"/c/{token}/{path}", data=form, headers=HTML)
        assert response.status_code == 404, (path, response.status_code)
        assert "cannot do that" in response.text
    assert snapshot() == before


def test_a_form_with_a_field_the_page_never_sends_is_refused(
    client: TestClient[Any],
    auth: Any,
    world: World,
    sessionmaker: async_sessionmaker[AsyncSession],
    snapshot: Any,
) -> None:
    complete_remotely(client, auth, world)
    sign_remotely(client, sessionmaker)
    token = token_of(client, sessionmaker, LinkPurpose.SURVEY)
    before = snapshot()
    tampered = client.post(
        f"/c/{token}/rating", data={"score": "5", "job_id": str(world.jobs["south_open"])}, headers=HTML
    )
    assert tampered.status_code == 422
    assert "Please check" in tampered.text
    out_of_range = client.post(f"/c/{token}/rating", data={"score": "9"}, headers=HTML)
    assert out_of_range.status_code == 422
    assert snapshot() == before
    # A program asking for JSON gets a problem document.
    as_json = client.post(f"/c/{token}/rating", data={"score": "0"}, headers={"Accept": "application/json"})
    assert as_json.status_code == 422
    assert as_json.headers["content-type"].startswith("application/problem+json")


def test_a_link_token_is_not_a_bearer_token(
    client: TestClient[Any], world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    offer(sessionmaker, world)
    token = token_of(client, sessionmaker, LinkPurpose.CONFIRM)
    for path in ("/api/jobs", f"/api/jobs/{world.jobs['north_assigned']}", "/api/complaints"):
        response = client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, path


def test_the_sign_off_link_works_once_seals_the_signature_and_sends_the_certificate(
    client: TestClient[Any],
    auth: Any,
    world: World,
    sessionmaker: async_sessionmaker[AsyncSession],
    snapshot: Any,
) -> None:
    job = complete_remotely(client, auth, world)
    token = token_of(client, sessionmaker, LinkPurpose.SIGN_OFF)
    page = client.get(f"/c/{token}", headers=HTML)
    assert page.status_code == 200
    assert "Sign off the work" in page.text
    image = "data:image/png;base64," + base64.b64encode(tiny_png()).decode()
    signed = client.post(f"/c/{token}/sign", data={"signer_name": "Ada North", "image": image}, headers=HTML)
    assert signed.status_code == 200
    assert "Thank you for signing" in signed.text

    signature = one(sessionmaker, sa.select(m.JobSignature).where(m.JobSignature.job_id == uuid.UUID(job)))
    assert signature.signer_name == "Ada North"
    assert signature.technician_id is None
    completion = one(sessionmaker, sa.select(m.JobCompletion).where(m.JobCompletion.job_id == uuid.UUID(job)))
    assert completion.sign_off is SignOff.REMOTE
    seals = run(_all(sessionmaker, sa.select(m.Seal.kind).where(m.Seal.job_id == uuid.UUID(job))))
    assert sorted(k.value for k in seals) == ["completion", "signature"]
    assert client.app.state.blob_store.has(signature.sha256)
    kinds = run(
        _all(sessionmaker, sa.select(m.OutboxMessage.kind).where(m.OutboxMessage.job_id == uuid.UUID(job)))
    )
    assert "job_completed" in kinds

    before = snapshot()
    again = client.post(
        f"/c/{token}/sign", data={"signer_name": "Someone else", "image": image}, headers=HTML
    )
    assert again.status_code == 410
    assert "already used" in again.text
    assert client.get(f"/c/{token}", headers=HTML).status_code == 410
    assert snapshot() == before


def test_refusing_to_sign_off_reopens_the_job(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    job = complete_remotely(client, auth, world)
    token = token_of(client, sessionmaker, LinkPurpose.SIGN_OFF)
    refused = client.post(f"/c/{token}/refuse", data={"reason": "still dripping"}, headers=HTML)
    assert refused.status_code == 200
    status = one(sessionmaker, sa.select(m.Job.status).where(m.Job.id == uuid.UUID(job)))
    assert status is JobStatus.REOPENED
    assert client.post(f"/c/{token}/refuse", data={"reason": "again"}, headers=HTML).status_code == 410


def test_rating_complaint_resolution_and_an_unhappy_verdict_reopen_with_rework(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    job = complete_remotely(client, auth, world)
    sign_remotely(client, sessionmaker)
    survey = token_of(client, sessionmaker, LinkPurpose.SURVEY)
    rated = client.post(f"/c/{survey}/rating", data={"score": "2", "comment": "late"}, headers=HTML)
    assert rated.status_code == 200
    assert "You rated this visit 2 out of 5" in rated.text
    filed = client.post(
        f"/c/{survey}/complaint",
        data={"category": "technical", "description": "It leaks again"},
        headers=HTML,
        follow_redirects=False,
    )
    assert filed.status_code == 303
    follow = filed.headers["location"]
    assert follow.startswith("/c/")
    assert follow != f"/c/{survey}"
    page = client.get(follow, headers=HTML)
    assert "It leaks again" in page.text
    assert "Received" in page.text

    office = auth("disp_north")
    listed = client.get("/api/complaints", params={"job_id": job}, headers=office).json()
    assert listed["total"] == 1
    complaint = listed["items"][0]
    assert complaint["channel"] == "web"
    assert complaint["category"] == "technical"
    assert client.get("/api/complaints", headers=auth("disp_south")).json()["total"] == 0
    acted = client.post(
        f"/api/complaints/{complaint['id']}/actions",
        json={"kind": "contacted_customer", "note": "called, visit offered"},
        headers=office,
    )
    assert acted.status_code == 200
    assert acted.json()["responded_at"] is not None
    resolved = client.post(
        f"/api/complaints/{complaint['id']}/resolution",
        json={"resolution": "Washer replaced again"},
        headers=office,
    )
    assert resolved.status_code == 200
    assert resolved.json()["status"] == "resolved"

    verdict_link = token_of(client, sessionmaker, LinkPurpose.COMPLAINT)
    page = client.get(f"/c/{verdict_link}", headers=HTML)
    assert "Washer replaced again" in page.text
    assert "Does this settle it?" in page.text
    unhappy = client.post(
        f"/c/{verdict_link}/verdict", data={"satisfied": "no", "comment": "still wet"}, headers=HTML
    )
    assert unhappy.status_code == 200, unhappy.text[-1500:]
    reopened = client.get(f"/api/complaints/{complaint['id']}", headers=office).json()
    assert reopened["status"] == "reopened"
    assert reopened["reopen_count"] == 1
    assert reopened["customer_satisfied"] is False
    rework = client.get(f"/api/jobs/{reopened['rework_job_id']}", headers=office).json()
    assert rework["status"] == "new"
    assert rework["service_type_id"] is not None
    assert [a["kind"] for a in reopened["actions"]][-2:] == ["customer_unsatisfied", "reopened"]
    status = one(
        sessionmaker, sa.select(m.Complaint.status).where(m.Complaint.id == uuid.UUID(complaint["id"]))
    )
    assert status is ComplaintStatus.REOPENED


def test_the_public_request_form_lands_in_intake_and_is_rate_limited(
    client: TestClient[Any],
    auth: Any,
    world: World,
    sessionmaker: async_sessionmaker[AsyncSession],
    snapshot: Any,
) -> None:
    form = client.get("/request", headers=HTML)
    assert form.status_code == 200
    assert "Request a visit" in form.text
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).date().isoformat()
    sent = client.post(
        "/request",
        data={
            "name": "Web Customer",
            "phone": "+33 4 72 00 11 22",
            "address": "9 Rue Vendôme, Lyon",
            "description": "The boiler leaks water",
            "when": f"{tomorrow}:am",
        },
        headers=HTML,
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    page = client.get(sent.headers["location"], headers=HTML)
    assert page.status_code == 200
    assert "We have your request" in page.text
    listed = client.get("/api/jobs", params={"status": "new"}, headers=auth("admin")).json()["items"]
    web = [j for j in listed if j["description"] == "The boiler leaks water"]
    assert len(web) == 1
    assert len(web[0]["time_windows"]) == 1
    request_channel = one(
        sessionmaker,
        sa.select(m.ServiceRequest.channel).where(
            m.ServiceRequest.id == uuid.UUID(web[0]["service_request_id"])
        ),
    )
    assert request_channel.value == "web"

    before = snapshot()
    bad = client.post("/request", data={"name": "", "address": "x", "description": "y"}, headers=HTML)
    assert bad.status_code == 422
    assert "Please check the form" in bad.text
    assert snapshot() == before
    for _ in range(4):
        client.post(
            "/request",
            data={
                "name": "Spam",
                "address": "9 Rue Vendôme, Lyon",
                "description": "spam spam",
                "phone": "+33 4 72 00 11 22",
            },
        )
    limited = client.post(
        "/request",
        data={"name": "Spam", "address": "9 Rue Vendôme, Lyon", "description": "spam"},
        headers=HTML,
    )
    assert limited.status_code == 429
    assert "retry-after" in limited.headers


def test_only_the_exact_token_opens_its_link(
    client: TestClient[Any], world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Base64 leaves two spare bits in the last character: no other spelling of the same bytes is accepted."""
    offer(sessionmaker, world)
    token = token_of(client, sessionmaker, LinkPurpose.CONFIRM)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    assert client.get(f"/c/{token}", headers=HTML).status_code == 200
    last = alphabet.index(token[-1])
    same_bytes = [alphabet[(last & ~3) | spare] for spare in range(4) if (last & ~3) | spare != last]
    assert len(same_bytes) == 3
    for other in same_bytes:
        assert client.get(f"/c/{token[:-1]}{other}", headers=HTML).status_code == 404, other
