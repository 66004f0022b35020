"""The customer's side of a visit, end to end: a real server on the demo data sending real e-mail to an SMTP server
in the test, the customer's pages in headless Chromium, the technician on the reference sync client.

The customer confirms from the link in their e-mail, follows the technician on the way, gets the certificate and the
survey after an offline completion with a signature, rates 2 stars and complains; the dispatcher resolves, the
customer is still unhappy, the complaint reopens and a rework job appears. Then the links that must open nothing.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import datetime as dt
import email
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from domain import models as m
from domain.demo import DEMO_PASSWORD
from tests.api.test_customer_links import tiny_png
from tests.e2e.browser import launch, needs_chromium

pytestmark = needs_chromium
DISPATCHER = "dispatcher-north@example.com"
LINK = re.compile(r"https?://[^\s/]+(/c/[A-Za-z0-9_-]{43})")


class Inbox:
    """What the SMTP server received, by recipient."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.port = 0

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def link(self, to: str, subject_part: str, timeout: float = 30) -> str:
        """The link in the newest message to `to` whose subject says `subject_part`, waiting for the sender."""
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            for message in reversed(self.messages):
                if message["To"] == to and subject_part.lower() in str(message["Subject"]).lower():
                    found = LINK.search(_text(message))
                    assert found, _text(message)
                    return found.group(1)
            time.sleep(0.2)
        raise AssertionError(
            f"no message to {to} about {subject_part!r}: {[m['Subject'] for m in self.messages]}"
        )


def _text(message: Message) -> str:
    if message.is_multipart():
        return "".join(_text(part) for part in message.get_payload())  # type: ignore[union-attr]
    payload = message.get_payload(decode=True)
    return payload.decode() if isinstance(payload, bytes) else str(payload)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box = Inbox()
    box.port = _free_port()
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def server_env(inbox: Inbox) -> dict[str, str]:
    """The server sends its e-mail to the test's SMTP server, and its sender polls often."""
    return {
        "FIELDWORK_SMTP_HOST": "127.0.0.1",
        "FIELDWORK_SMTP_PORT": str(inbox.port),
        "FIELDWORK_SMTP_STARTTLS": "0",
        "FIELDWORK_SMTP_FROM": "fieldwork@example.com",
        "FIELDWORK_OUTBOX_WORKER": "1",
        "FIELDWORK_OUTBOX_POLL_S": "0.3",
    }


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = launch(p)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def phone_page(browser: Any) -> Iterator[Any]:
    """A phone-sized page, as the customer opens their links."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        yield page
    except Exception:
        page.screenshot(path="customer-page-failure.png")
        raise
    finally:
        context.close()


def off_the_loop(coro: Any) -> Any:
    """Run a database coroutine from a test driving Playwright, whose own event loop runs in this thread."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _token(base: str, user: str) -> dict[str, str]:
    response = httpx.post(f"{base}/api/auth/token", json={"username": user, "password": DEMO_PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def phone(store: Path, server: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "sync.cli", "--server", server, "--store", str(store), *args],
        env={**os.environ, "FIELDWORK_PASSWORD": DEMO_PASSWORD},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _offer(base: str, office: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A triaged new job of the north with a free slot tomorrow, offered to its customer."""
    jobs = httpx.get(
        f"{base}/api/jobs", params={"status": "new", "needs_triage": "false", "limit": 200}, headers=office
    ).json()["items"]
    for job in jobs:
        service = httpx.get(f"{base}/api/service-types", headers=office).json()
        kinds = {s["id"]: s for s in (service["items"] if isinstance(service, dict) else service)}
        if not kinds.get(job["service_type_id"], {}).get("requires_signature", True):
            continue
        slots = httpx.get(f"{base}/api/jobs/{job['id']}/slots", headers=office, timeout=60).json()
        feasible = [s for s in slots if s["feasible"]] if isinstance(slots, list) else []
        if not feasible:
            continue
        booked = httpx.post(
            f"{base}/api/jobs/{job['id']}/slots/booking",
            json={"starts_at": feasible[0]["starts_at"], "ends_at": feasible[0]["ends_at"], "offer": True},
            headers=office,
            timeout=60,
        )
        assert booked.status_code == 200, booked.text
        return job, booked.json()
    raise AssertionError("no triaged new job with a free slot tomorrow in the demo data")


def test_the_customer_follows_the_visit_rates_complains_and_gets_rework(
    server: str, inbox: Inbox, phone_page: Any, tmp_path: Path
) -> None:
    office = _token(server, DISPATCHER)
    job, booking = _offer(server, office)
    job_id = job["id"]
    customer = httpx.get(f"{server}/api/customers/{job['customer_id']}", headers=office).json()
    to = customer["email"]

    # The customer confirms the offered time from the link in their e-mail.
    page = phone_page
    page.goto(server + inbox.link(to, "please confirm"))
    assert page.locator("#window").is_visible()
    page.click("#confirm")
    page.wait_for_selector("#confirmed")
    assert inbox.link(to, "is confirmed").startswith("/c/")

    # The office dispatches; the technician, on the reference client, sets out.
    technician = httpx.get(
        f"{server}/api/technicians/{booking['slot']['technician_id']}", headers=office
    ).json()
    moved = httpx.post(
        f"{server}/api/jobs/{job_id}/transitions", json={"to_status": "dispatched"}, headers=office
    )
    assert moved.status_code == 200, moved.text
    store = tmp_path / "phone.db"
    phone(store, server, "login", technician["email"])
    phone(store, server, "sync")
    phone(store, server, "status", job_id, "en_route")
    phone(store, server, "sync")

    page.goto(server + inbox.link(to, "on the way"))
    current = page.locator(".stages li[aria-current=step]")
    assert current.get_attribute("data-stage") == "on_the_way"
    eta = page.locator("#eta").inner_text()
    assert re.fullmatch(r"\d\d:\d\d", eta), eta

    # On site, the whole job is recorded offline, signature included, then synced once.
    (tmp_path / "signature.png").write_bytes(tiny_png())
    checklist = httpx.get(f"{server}/api/jobs/{job_id}", headers=office).json()["checklist"]
    dead = "http://127.0.0.1:9"  # nothing listens there: the phone is offline
    for step in (
        ["status", job_id, "on_site"],
        ["status", job_id, "in_progress"],
        ["fields", job_id, *[f"{item}=yes" for item in checklist]],
        ["part", job_id, "Valve", "1"],
        ["sign", job_id, str(tmp_path / "signature.png"), "Claude Martin"],
        ["complete", job_id, "fixed", "--summary", "Valve replaced"],
    ):
        offline = subprocess.run(
            [sys.executable, "-m", "sync.cli", "--server", dead, "--store", str(store), *step],
            env={**os.environ, "FIELDWORK_PASSWORD": DEMO_PASSWORD},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert offline.returncode == 0, offline.stderr
    phone(store, server, "sync")
    results = phone(store, server, "results")
    assert "rejected" not in results, results
    assert httpx.get(f"{server}/api/jobs/{job_id}", headers=office).json()["status"] == "completed"

    # The certificate, through the visit's page.
    page.goto(server + inbox.link(to, "is complete"))
    assert page.locator(".stages li[aria-current=step]").get_attribute("data-stage") == "done"
    page.click("#certificate-html")
    page.wait_for_load_state()
    assert "Claude Martin" in page.content()

    # Two stars, and a complaint.
    page.goto(server + inbox.link(to, "how did we do"))
    page.click("label[for=star2]")
    page.fill("#comment", "Arrived late and left a mess")
    page.click("#rate")
    page.wait_for_selector("#rated")
    assert "2 out of 5" in page.locator("#rated").inner_text()
    page.select_option("#category", "service")
    page.fill("#description", "The technician left dirt everywhere")
    page.click("#complain")
    page.wait_for_selector("#complaint")
    assert page.locator("#complaint-status").inner_text() == "Received"

    # The dispatcher resolves it.
    listed = httpx.get(f"{server}/api/complaints", params={"job_id": job_id}, headers=office).json()
    assert listed["total"] == 1
    complaint_id = listed["items"][0]["id"]
    resolved = httpx.post(
        f"{server}/api/complaints/{complaint_id}/resolution",
        json={"resolution": "We apologised and offered a cleaning visit."},
        headers=office,
    )
    assert resolved.status_code == 200, resolved.text

    # Still unhappy: the complaint reopens and the work is scheduled again.
    page.goto(server + inbox.link(to, "resolved"))
    assert "cleaning visit" in page.locator("#resolution").inner_text()
    page.fill("#verdict-comment", "Nobody came to clean")
    page.click("#unsatisfied")
    page.wait_for_selector("#complaint-status")
    assert page.locator("#complaint-status").inner_text() == "Open again"
    after = httpx.get(f"{server}/api/complaints/{complaint_id}", headers=office).json()
    assert after["status"] == "reopened"
    rework = httpx.get(f"{server}/api/jobs/{after['rework_job_id']}", headers=office).json()
    assert rework["status"] == "new"
    assert rework["customer_id"] == job["customer_id"]


def test_links_that_must_open_nothing_say_so_and_change_nothing(
    server: str, inbox: Inbox, phone_page: Any
) -> None:
    office = _token(server, DISPATCHER)
    job, _ = _offer(server, office)
    customer = httpx.get(f"{server}/api/customers/{job['customer_id']}", headers=office).json()
    confirm = inbox.link(customer["email"], "please confirm")
    page = phone_page

    def shows(path: str, title: str) -> None:
        response = page.goto(server + path)
        assert response is not None
        assert response.status in (404, 410), response.status
        assert page.locator("#message-title").inner_text() == title
        assert page.locator("form").count() == 0

    def appointment_status() -> str:
        found = httpx.get(f"{server}/api/jobs/{job['id']}", headers=office).json()
        return str(found["status"])

    before = appointment_status()
    tampered = confirm[:-1] + ("A" if confirm[-1] != "A" else "B")
    shows(tampered, "This link is not valid")
    shows("/c/" + "Z" * 43, "This link is not valid")

    # Rescheduling from the link replaces the appointment: the old link then opens nothing.
    page.goto(server + confirm)
    page.click("#reschedule")
    choices = page.locator("button.slot-choice")
    if choices.count() == 0:
        pytest.skip("no other free slot in the demo's coming days")
    choices.first.click()
    page.wait_for_selector("#confirmed")
    shows(confirm, "This appointment was replaced")
    assert appointment_status() == before

    # A link for another customer's appointment gives nothing of this one: each page shows only its own job.
    other_job, _ = _offer(server, office)
    other = httpx.get(f"{server}/api/customers/{other_job['customer_id']}", headers=office).json()
    if other["email"] != customer["email"]:
        page.goto(server + inbox.link(other["email"], "please confirm"))
        assert customer["name"] not in page.content()


def test_remote_sign_off_on_the_pad_works_once_and_an_expired_link_opens_nothing(
    server: str, inbox: Inbox, phone_page: Any, tmp_path: Path, sessionmaker: Any
) -> None:
    office = _token(server, DISPATCHER)
    store = tmp_path / "phone.db"
    phone(store, server, "login", "tech01@example.com")
    phone(store, server, "sync")
    dispatched = [
        line.split()[0] for line in phone(store, server, "jobs").splitlines() if " dispatched " in line
    ]
    assert dispatched
    job_id = dispatched[0]
    job = httpx.get(f"{server}/api/jobs/{job_id}", headers=office).json()
    to = httpx.get(f"{server}/api/customers/{job['customer_id']}", headers=office).json()["email"]
    for step in (
        ["status", job_id, "en_route"],
        ["status", job_id, "on_site"],
        ["status", job_id, "in_progress"],
        ["fields", job_id, *[f"{item}=done" for item in job["checklist"]]],
        ["complete", job_id, "fixed", "--summary", "Work done; the customer was out", "--remote-sign-off"],
    ):
        phone(store, server, *step)
    phone(store, server, "sync")
    assert "rejected" not in phone(store, server, "results")

    page = phone_page
    sign_off = inbox.link(to, "sign off")
    page.goto(server + sign_off)
    pad = page.locator("#pad").bounding_box()
    assert pad is not None
    page.mouse.move(pad["x"] + 20, pad["y"] + 40)
    page.mouse.down()
    for k in range(1, 12):
        page.mouse.move(pad["x"] + 20 + 25 * k, pad["y"] + 40 + (25 if k % 2 else -10))
    page.mouse.up()
    page.fill("#signer_name", "Camille Roux")
    page.click("#sign")
    page.wait_for_selector("#message-title")
    assert page.locator("#message-title").inner_text() == "Thank you for signing"
    report = httpx.get(f"{server}/api/jobs/{job_id}/field-report", headers=office).json()
    assert report["signature"]["signer_name"] == "Camille Roux"

    # Used twice: the second visit finds it spent, and the signature stays the first one.
    response = page.goto(server + sign_off)
    assert response is not None
    assert response.status == 410
    assert page.locator("#message-title").inner_text() == "This link was already used"
    assert page.locator("form").count() == 0
    again = httpx.get(f"{server}/api/jobs/{job_id}/field-report", headers=office).json()
    assert again["signature"] == report["signature"]

    # The survey came once signed; when its link has expired it opens nothing and rates nothing.
    survey = inbox.link(to, "how did we do")
    link_id = uuid.UUID(bytes=base64.urlsafe_b64decode(survey.removeprefix("/c/") + "=")[:16])

    async def expire() -> None:
        async with sessionmaker() as s:
            await s.execute(
                sa.update(m.CustomerLink)
                .where(m.CustomerLink.id == link_id)
                .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
            )
            await s.commit()

    off_the_loop(expire())
    response = page.goto(server + survey)
    assert response is not None
    assert response.status == 410
    assert page.locator("#message-title").inner_text() == "This link has expired"
    posted = httpx.post(f"{server}{survey}/rating", data={"score": "1"})
    assert posted.status_code == 410

    async def ratings() -> int:
        async with sessionmaker() as s:
            # Of this job: the demo's history has ratings of its own.
            rated = (
                sa.select(sa.func.count()).select_from(m.Rating).where(m.Rating.job_id == uuid.UUID(job_id))
            )
            return int(await s.scalar(rated) or 0)

    assert off_the_loop(ratings()) == 0


def test_a_request_from_the_public_form_reaches_the_dispatchers(
    server: str, inbox: Inbox, phone_page: Any
) -> None:
    page = phone_page
    page.goto(server + "/request")
    page.click("#send-request")  # empty: the browser's own checks keep it on the page
    assert page.url.endswith("/request")
    page.fill("#name", "Louise Web")
    page.fill("#email", "louise.web@example.org")
    page.fill("#address", "9 Rue Vendôme, Lyon")
    page.fill("#description", "No hot water since this morning")
    page.select_option("#when", index=2)
    page.click("#send-request")
    page.wait_for_selector("#status")
    assert "We have your request" in page.locator("#status").inner_text()
    assert page.url == server + inbox.link("louise.web@example.org", "we received your request")

    office = _token(server, "dispatcher@example.com")
    listed = httpx.get(f"{server}/api/jobs", params={"status": "new", "limit": 200}, headers=office).json()
    mine = [j for j in listed["items"] if j["description"] == "No hot water since this morning"]
    assert len(mine) == 1
    assert len(mine[0]["time_windows"]) == 1
    assert mine[0]["suggested_service_type_codes"], "the web request is classified like any other"

    # An address nobody can find is sent back with the form kept, and nothing is created.
    page.goto(server + "/request")
    page.fill("#name", "Louise Web")
    page.fill("#email", "louise.web@example.org")
    page.fill("#address", "Nowhere Street 999, Atlantis")
    page.fill("#description", "Leak")
    page.click("#send-request")
    page.wait_for_selector("#form-error")
    assert page.input_value("#description") == "Leak"
    again = httpx.get(f"{server}/api/jobs", params={"status": "new", "limit": 200}, headers=office).json()
    assert again["total"] == listed["total"]
