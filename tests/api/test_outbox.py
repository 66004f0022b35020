"""The outbox for the office (ListOutboxMessages, RetryOutboxMessage) and the sender the app starts."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.app import create_app
from api.settings import Settings
from api.worker import OutboxWorker, senders_from_settings
from domain import links
from domain import models as m
from domain.delivery import ConsoleSender, HttpSmsSender, RenderedMessage, SmtpSender, message_id_for
from domain.enums import LinkPurpose, MessageState
from domain.outbox import notify_customer
from tests.conftest import World
from tests.domain.test_delivery import Mailbox, start_smtp

PROBLEM_JSON = "application/problem+json"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


async def _add(sessionmaker: async_sessionmaker[AsyncSession], rows: list[dict[str, Any]]) -> None:
    async with sessionmaker() as s:
        s.info["actor"] = "test:outbox"
        for values in rows:
            s.add(m.OutboxMessage(**{"id": uuid.uuid4(), "attempts": 0, **values}))
        await s.commit()


def _message(world: World, key: str, **values: Any) -> dict[str, Any]:
    return {
        "key": key,
        "kind": "appointment_offered",
        "channel": "email",
        "recipient": "customer.north@example.net",
        "subject": "Please confirm",
        "body": {"text": "Confirm here: {link}"},
        "state": MessageState.PENDING,
        "next_attempt_at": NOW,
        **values,
    }


@pytest.fixture
def letters(world: World, sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    """Messages of both territories and to technicians of both: key -> outbox id."""
    north, south = world.territories["north"], world.territories["south"]
    rows = [
        _message(
            world,
            "north_dead",
            territory_id=north,
            job_id=world.jobs["north_open"],
            customer_id=world.customers["north"],
            state=MessageState.DEAD,
            attempts=8,
            next_attempt_at=None,
            last_error="SMTP 451 on the recipient: try later",
        ),
        _message(
            world,
            "north_sent",
            kind="on_the_way",
            channel="sms",
            recipient="+336123445781",
            territory_id=north,
            job_id=world.jobs["north_assigned"],
            customer_id=world.customers["north"],
            state=MessageState.SENT,
            sent_at=NOW,
            next_attempt_at=None,
        ),
        _message(
            world,
            "south_dead",
            recipient="customer.south@example.net",
            territory_id=south,
            job_id=world.jobs["south_open"],
            customer_id=world.customers["south"],
            state=MessageState.DEAD,
            next_attempt_at=None,
        ),
        _message(
            world,
            "push_n1",
            kind="plan_changed",
            channel="push",
            recipient="tech_n1@example.com",
            body={"stops": []},
            technician_id=world.technicians["tech_n1"],
        ),
        _message(
            world,
            "push_s1",
            kind="plan_changed",
            channel="push",
            recipient="tech_s1@example.com",
            body={"stops": []},
            technician_id=world.technicians["tech_s1"],
        ),
    ]
    asyncio.run(_add(sessionmaker, rows))

    async def ids() -> dict[str, str]:
        async with sessionmaker() as s:
            return {r.key: str(r.id) for r in await s.scalars(sa.select(m.OutboxMessage))}

    return asyncio.run(ids())


def _keys(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return sorted(item["key"] for item in response.json()["items"])


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


# The list ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("admin", ["north_dead", "north_sent", "push_n1", "push_s1", "south_dead"]),
        ("disp_north", ["north_dead", "north_sent", "push_n1"]),
        ("disp_south", ["push_s1", "south_dead"]),
    ],
)
def test_each_office_user_sees_the_messages_of_their_territories(
    client: TestClient[Any], auth: Any, letters: dict[str, str], who: str, expected: list[str]
) -> None:
    response = client.get("/api/outbox", headers=auth(who))
    assert _keys(response) == expected
    assert response.json()["total"] == len(expected)


def test_technicians_may_not_read_the_outbox(
    client: TestClient[Any], auth: Any, letters: dict[str, str]
) -> None:
    _problem(client.get("/api/outbox", headers=auth("tech_n1")), 403)
    _problem(client.post(f"/api/outbox/{letters['push_n1']}/retry", headers=auth("tech_n1")), 403)


def test_an_item_says_what_was_sent_and_under_which_id(
    client: TestClient[Any], auth: Any, letters: dict[str, str], world: World
) -> None:
    [item] = client.get("/api/outbox", params={"channel": "sms"}, headers=auth("disp_north")).json()["items"]
    assert item["id"] == letters["north_sent"]
    assert item["message_id"] == message_id_for("north_sent")
    assert item["state"] == "sent"
    assert item["recipient"] == "+336123445781"
    assert item["job_id"] == str(world.jobs["north_assigned"])
    assert item["territory_id"] == str(world.territories["north"])
    assert dt.datetime.fromisoformat(item["sent_at"]) == NOW
    # The link stays a placeholder: its token is derived only when the message is sent.
    [dead] = client.get("/api/outbox", params={"state": "dead"}, headers=auth("disp_north")).json()["items"]
    assert dead["body"] == {"text": "Confirm here: {link}"}
    assert dead["last_error"] == "SMTP 451 on the recipient: try later"


@pytest.mark.parametrize(
    ("who", "params", "expected"),
    [
        ("admin", {"state": "dead"}, ["north_dead", "south_dead"]),
        ("disp_north", {"state": "dead"}, ["north_dead"]),
        ("disp_south", {"state": "dead"}, ["south_dead"]),
        ("disp_north", {"state": "suppressed"}, []),
        ("admin", {"kind": "plan_changed"}, ["push_n1", "push_s1"]),
        ("disp_north", {"channel": "push"}, ["push_n1"]),
        ("disp_north", {"channel": "email", "state": "dead"}, ["north_dead"]),
        ("admin", {"job_id": "north_assigned"}, ["north_sent"]),
        ("disp_south", {"job_id": "north_assigned"}, []),
    ],
)
def test_filters_narrow_the_list_within_the_scope(
    client: TestClient[Any],
    auth: Any,
    letters: dict[str, str],
    world: World,
    who: str,
    params: dict[str, str],
    expected: list[str],
) -> None:
    if "job_id" in params:
        params = {**params, "job_id": str(world.jobs[params["job_id"]])}
    assert _keys(client.get("/api/outbox", params=params, headers=auth(who))) == expected


def test_the_list_is_paged_newest_first(client: TestClient[Any], auth: Any, letters: dict[str, str]) -> None:
    pages = [
        client.get("/api/outbox", params={"limit": 2, "offset": offset}, headers=auth("admin")).json()
        for offset in (0, 2, 4, 6)
    ]
    assert [p["total"] for p in pages] == [5, 5, 5, 5]
    assert [len(p["items"]) for p in pages] == [2, 2, 1, 0]
    seen = [item for p in pages for item in p["items"]]
    assert sorted(i["key"] for i in seen) == sorted(letters)
    created = [i["created_at"] for i in seen]
    assert created == sorted(created, reverse=True)


@pytest.mark.parametrize(
    "params",
    [
        {"state": "lost"},
        {"channel": "fax"},
        {"limit": "0"},
        {"limit": "201"},
        {"offset": "-1"},
        {"job_id": "not-a-uuid"},
        {"kind": "Not A Kind"},
        {"kind": "x" * 41},
    ],
)
def test_bad_query_parameters_are_400_problems(
    client: TestClient[Any], auth: Any, params: dict[str, str]
) -> None:
    _problem(client.get("/api/outbox", params=params, headers=auth("disp_north")), 400)


# Retry --------------------------------------------------------------------------------------------------------


def _row(sessionmaker: async_sessionmaker[AsyncSession], outbox_id: str) -> m.OutboxMessage:
    async def load() -> m.OutboxMessage:
        async with sessionmaker() as s:
            return await s.get_one(m.OutboxMessage, uuid.UUID(outbox_id))

    return asyncio.run(load())


def test_a_dead_letter_is_sent_again_once_retried(
    client: TestClient[Any],
    auth: Any,
    letters: dict[str, str],
    sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
) -> None:
    before = dt.datetime.now(dt.UTC)
    response = client.post(f"/api/outbox/{letters['north_dead']}/retry", headers=auth("disp_north"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["state"], body["attempts"]) == ("pending", 0)
    row = _row(sessionmaker, letters["north_dead"])
    assert (row.state, row.attempts) == (MessageState.PENDING, 0)
    assert row.next_attempt_at is not None
    assert before - dt.timedelta(seconds=1) <= row.next_attempt_at <= dt.datetime.now(dt.UTC)
    assert _keys(client.get("/api/outbox", params={"state": "dead"}, headers=auth("disp_north"))) == []

    async def actors() -> set[str]:
        async with sessionmaker() as s:
            found = await s.scalars(
                sa.select(m.AuditEntry.actor).where(m.AuditEntry.entity_id == letters["north_dead"])
            )
            return set(found)

    dispatcher = asyncio.run(_user_id(sessionmaker, world.users["disp_north"]))
    assert f"user:{dispatcher}" in asyncio.run(actors())

    again = client.post(f"/api/outbox/{letters['north_dead']}/retry", headers=auth("disp_north"))
    assert "pending" in _problem(again, 409)["detail"]


async def _user_id(sessionmaker: async_sessionmaker[AsyncSession], email: str) -> uuid.UUID:
    async with sessionmaker() as s:
        found = await s.scalar(sa.select(m.User.id).where(m.User.email == email))
        assert found is not None
        return found


def test_only_dead_letters_can_be_retried(
    client: TestClient[Any], auth: Any, letters: dict[str, str], snapshot: Any
) -> None:
    before = snapshot()
    for key in ("north_sent", "push_n1"):
        _problem(client.post(f"/api/outbox/{letters[key]}/retry", headers=auth("disp_north")), 409)
    assert snapshot() == before


@pytest.mark.parametrize(
    ("who", "key"),
    [("disp_south", "north_dead"), ("disp_north", "south_dead"), ("disp_south", "push_n1")],
)
def test_a_message_outside_the_scope_is_404_and_unchanged(
    client: TestClient[Any], auth: Any, letters: dict[str, str], snapshot: Any, who: str, key: str
) -> None:
    before = snapshot()
    _problem(client.post(f"/api/outbox/{letters[key]}/retry", headers=auth(who)), 404)
    assert snapshot() == before


def test_retrying_an_unknown_or_malformed_id_is_a_4xx_problem(client: TestClient[Any], auth: Any) -> None:
    _problem(client.post(f"/api/outbox/{uuid.uuid4()}/retry", headers=auth("admin")), 404)
    response = client.post("/api/outbox/not-a-uuid/retry", headers=auth("admin"))
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith(PROBLEM_JSON)


# The worker the app starts ----------------------------------------------------------------------------------------


def test_the_tests_app_runs_no_worker(client: TestClient[Any]) -> None:
    assert client.app.state.outbox_worker is None


def test_senders_follow_the_settings(settings: Settings) -> None:
    plain = senders_from_settings(settings)
    assert {type(s) for s in plain.values()} == {ConsoleSender}
    configured = senders_from_settings(
        dataclasses.replace(
            settings,
            smtp_host="mail.example.org",
            smtp_from="ops@example.org",
            sms_url="https://sms.example/v1",
        )
    )
    assert isinstance(configured["email"], SmtpSender)
    assert isinstance(configured["sms"], HttpSmsSender)
    assert isinstance(configured["push"], ConsoleSender)
    asyncio.run(configured["sms"].aclose())


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("FIELDWORK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PORT", "8123")
    for name in ("FIELDWORK_OUTBOX_WORKER", "FIELDWORK_PUBLIC_URL", "FIELDWORK_SMTP_STARTTLS"):
        monkeypatch.delenv(name, raising=False)
    default = Settings.from_env()
    assert (default.outbox_worker, default.smtp_starttls) == (True, True)
    assert default.public_base_url == "http://127.0.0.1:8123"
    monkeypatch.setenv("FIELDWORK_OUTBOX_WORKER", "off")
    monkeypatch.setenv("FIELDWORK_PUBLIC_URL", "https://service.example.org/")
    monkeypatch.setenv("FIELDWORK_SMTP_PASSWORD", "hunter2")
    changed = Settings.from_env()
    assert changed.outbox_worker is False
    assert changed.public_base_url == "https://service.example.org"
    assert "hunter2" not in repr(changed)
    monkeypatch.setenv("FIELDWORK_OUTBOX_WORKER", "perhaps")
    with pytest.raises(ValueError, match="FIELDWORK_OUTBOX_WORKER"):
        Settings.from_env()


@pytest.fixture
def mail_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    controller, port = start_smtp(mailbox)
    try:
        yield mailbox, port
    finally:
        controller.stop()


async def _queue_with_link(sessionmaker: async_sessionmaker[AsyncSession], world: World) -> None:
    async with sessionmaker() as s:
        s.info["actor"] = "test:queue"
        job = await s.get_one(m.Job, world.jobs["north_open"])
        link = links.new_link(s, LinkPurpose.SURVEY, job, now=dt.datetime.now(dt.UTC))
        await s.flush()
        await notify_customer(
            s,
            kind="survey",
            key="survey:north_open",
            job=job,
            subject="How did we do?",
            text="Tell us how it went: {link}",
            now=dt.datetime.now(dt.UTC),
            link=link,
        )
        await s.commit()


def _states(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, MessageState]:
    async def load() -> dict[str, MessageState]:
        async with sessionmaker() as s:
            return {r.channel: r.state for r in await s.scalars(sa.select(m.OutboxMessage))}

    return asyncio.run(load())


def test_the_worker_started_with_the_app_sends_what_is_queued(
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
    mail_server: tuple[Mailbox, int],
) -> None:
    mailbox, port = mail_server
    app = create_app(
        dataclasses.replace(
            settings,
            outbox_worker=True,
            outbox_poll_s=0.05,
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_starttls=False,
            smtp_from="Fieldwork <noreply@fieldwork.test>",
            public_url="https://service.example.org",
        ),
        engine,
    )
    with TestClient(app=app, raise_server_exceptions=False):
        worker = app.state.outbox_worker
        assert isinstance(worker, OutboxWorker)
        assert worker.running
        asyncio.run(_queue_with_link(sessionmaker, world))
        give_up = time.monotonic() + 15
        while _states(sessionmaker) != {"email": MessageState.SENT, "sms": MessageState.SENT}:
            assert time.monotonic() < give_up, _states(sessionmaker)
            time.sleep(0.05)
    assert not worker.running

    [mail] = mailbox.messages
    [token] = re.findall(r"https://service\.example\.org/c/([A-Za-z0-9_-]+)", mail.get_content())

    async def opened() -> uuid.UUID:
        async with sessionmaker() as s:
            found = await links.open_link(
                s, app.state.server_keys.link_secret, token, now=dt.datetime.now(dt.UTC)
            )
            return found.job.id

    assert asyncio.run(opened()) == world.jobs["north_open"]


class _FlakySessions:
    """A sessionmaker whose first calls fail, as a database that is briefly away."""

    def __init__(self, inner: async_sessionmaker[AsyncSession], failures: int) -> None:
        self.inner, self.failures = inner, failures

    def __call__(self) -> AsyncSession:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the database went away")
        return self.inner()


class _Recording:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.done = asyncio.Event()

    async def send(self, message: RenderedMessage) -> None:
        self.sent.append(message.key)
        self.done.set()


def test_a_failing_round_does_not_stop_the_worker(
    sessionmaker: async_sessionmaker[AsyncSession], world: World, caplog: pytest.LogCaptureFixture
) -> None:
    asyncio.run(_add(sessionmaker, [_message(world, "after_the_outage", body={"text": "Hello"})]))
    sender = _Recording()

    async def run() -> None:
        worker = OutboxWorker(
            _FlakySessions(sessionmaker, failures=2),  # type: ignore[arg-type]
            {"email": sender},
            link_secret=b"s" * 32,
            public_base_url="http://localhost",
            poll_s=0.01,
        )
        worker.start()
        try:
            await asyncio.wait_for(sender.done.wait(), timeout=10)
        finally:
            await worker.stop()
        assert not worker.running

    asyncio.run(run())
    assert sender.sent == ["after_the_outage"]
    assert caplog.text.count("a delivery round failed") == 2


def test_stopping_does_not_wait_for_a_sender_that_hangs(
    sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    """Shutdown cancels a send that outlives the grace period; the lease brings the message back later."""
    asyncio.run(_add(sessionmaker, [_message(world, "hangs", body={"text": "Hello"})]))

    class Hangs:
        def __init__(self) -> None:
            self.started = asyncio.Event()

        async def send(self, message: RenderedMessage) -> None:
            self.started.set()
            await asyncio.sleep(3600)

    async def run() -> float:
        sender = Hangs()
        worker = OutboxWorker(
            sessionmaker, {"email": sender}, link_secret=b"s" * 32, public_base_url="http://x", poll_s=0.01
        )
        worker.start()
        await asyncio.wait_for(sender.started.wait(), timeout=10)
        begun = time.monotonic()
        await worker.stop(grace_s=0.2)
        return time.monotonic() - begun

    assert asyncio.run(run()) < 5
    row = _row_by_key(sessionmaker, "hangs")
    assert (row.state, row.attempts) == (MessageState.PENDING, 1)
    assert row.next_attempt_at is not None
    assert row.next_attempt_at > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=4)


def _row_by_key(sessionmaker: async_sessionmaker[AsyncSession], key: str) -> m.OutboxMessage:
    async def load() -> m.OutboxMessage:
        async with sessionmaker() as s:
            found = await s.scalar(sa.select(m.OutboxMessage).where(m.OutboxMessage.key == key))
            assert found is not None
            return found

    return asyncio.run(load())
