"""Delivering the outbox against a real SMTP server (aiosmtpd) and a real HTTP server standing in for the SMS
provider. Time is driven through `deliver_due(now=...)`, never slept."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import email
import email.policy
import ipaddress
import json
import logging
import re
import socket
import ssl
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain import links
from domain import models as m
from domain.delivery import (
    ConsoleSender,
    HttpSmsSender,
    PermanentFailure,
    RenderedMessage,
    RetryPolicy,
    Sender,
    SmtpConfig,
    SmtpSender,
    TemporaryFailure,
    deliver_due,
    message_id_for,
)
from domain.delivery.messages import mask_email, mask_phone, mask_recipient
from domain.enums import LinkPurpose, MessageState
from domain.outbox import notify_customer
from tests.conftest import World

SECRET = b"s" * 32
BASE = "https://service.example.org"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
FROM = "Fieldwork <noreply@fieldwork.test>"
POLICY = RetryPolicy()


def our_log(caplog: pytest.LogCaptureFixture) -> str:
    """What fieldwork logged (the test servers log addresses of their own, as mail servers do)."""
    return "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("fieldwork"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# A real SMTP server -----------------------------------------------------------------------------------------------


class Mailbox:
    """aiosmtpd handler: keeps what it accepts; `refuse` answers RCPT TO for an address with the reply given."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse: dict[str, str] = {}
        self.logins: list[tuple[bytes, bool]] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    mailbox: Mailbox
    port: int

    def config(self, **changes: Any) -> SmtpConfig:
        return SmtpConfig(
            **{"host": "127.0.0.1", "port": self.port, "sender": FROM, "starttls": False, **changes}
        )


def start_smtp(mailbox: Mailbox, **options: Any) -> tuple[Controller, int]:
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    return controller, port


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    mailbox = Mailbox()
    controller, port = start_smtp(mailbox)
    try:
        yield SmtpServer(mailbox, port)
    finally:
        controller.stop()


# A real HTTP server for the SMS provider --------------------------------------------------------------------------


@dataclass
class SmsProvider:
    url: str = ""
    received: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    # Statuses to answer, in order; 202 once they run out.
    answers: list[int] = field(default_factory=list)


@pytest.fixture
def sms() -> Iterator[SmsProvider]:
    provider = SmsProvider()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            provider.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            status = provider.answers.pop(0) if provider.answers else 202
            payload = json.dumps({"status": status}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    provider.url = f"http://127.0.0.1:{server.server_address[1]}/v1/messages"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()


# Helpers ---------------------------------------------------------------------------------------------------------


@pytest.fixture
async def senders(smtp: SmtpServer, sms: SmsProvider) -> AsyncIterator[dict[str, Sender]]:
    sms_sender = HttpSmsSender(sms.url, token="provider-token")
    yield {"email": SmtpSender(smtp.config()), "sms": sms_sender, "push": ConsoleSender()}
    await sms_sender.aclose()


async def deliver(
    sessionmaker: async_sessionmaker[AsyncSession], senders: dict[str, Sender], now: dt.datetime = NOW
) -> Any:
    return await deliver_due(sessionmaker, senders, link_secret=SECRET, public_base_url=BASE, now=now)


async def queue(
    sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
    *,
    key: str = "visit:1:on_the_way",
    text: str = "Your technician is on the way, about 14:30. Follow them: {link}",
    purpose: LinkPurpose | None = LinkPurpose.TRACK,
    job: str = "north_open",
) -> uuid.UUID | None:
    """The way the domain queues: a link and one message per channel the customer can be reached on."""
    async with sessionmaker() as s:
        s.info["actor"] = "test:queue"
        found = await s.get_one(m.Job, world.jobs[job])
        link = links.new_link(s, purpose, found, now=NOW) if purpose is not None else None
        await s.flush()
        await notify_customer(
            s, kind="on_the_way", key=key, job=found, subject="On the way", text=text, now=NOW, link=link
        )
        await s.commit()
        return link.id if link is not None else None


async def add_message(sessionmaker: async_sessionmaker[AsyncSession], **values: Any) -> uuid.UUID:
    fields: dict[str, Any] = {
        "key": f"test:{uuid.uuid4()}",
        "kind": "test",
        "channel": "email",
        "recipient": "someone@example.net",
        "subject": "Hello",
        "body": {"text": "Hello there"},
        "state": MessageState.PENDING,
        "next_attempt_at": NOW,
        "attempts": 0,
        **values,
    }
    async with sessionmaker() as s:
        s.info["actor"] = "test:queue"
        message = m.OutboxMessage(id=uuid.uuid4(), **fields)
        s.add(message)
        await s.commit()
        return message.id


async def messages(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, m.OutboxMessage]:
    """Every outbox row by channel (or by key when a test queues several on one channel)."""
    async with sessionmaker() as s:
        rows = (await s.scalars(sa.select(m.OutboxMessage))).all()
    by_channel = {r.channel: r for r in rows}
    return by_channel if len(by_channel) == len(rows) else {r.key: r for r in rows}


async def one(sessionmaker: async_sessionmaker[AsyncSession], outbox_id: uuid.UUID) -> m.OutboxMessage:
    async with sessionmaker() as s:
        return await s.get_one(m.OutboxMessage, outbox_id)


async def set_customer(
    sessionmaker: async_sessionmaker[AsyncSession], customer_id: uuid.UUID, **values: Any
) -> None:
    async with sessionmaker() as s:
        s.info["actor"] = "test:customer"
        customer = await s.get_one(m.Customer, customer_id)
        for name, value in values.items():
            setattr(customer, name, value)
        await s.commit()


async def customer_of(sessionmaker: async_sessionmaker[AsyncSession], world: World) -> m.Customer:
    async with sessionmaker() as s:
        return await s.get_one(m.Customer, world.customers["north"])


# Delivered, with the link --------------------------------------------------------------------------------------


async def test_a_message_goes_out_on_each_channel_with_a_working_link(
    sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
    senders: dict[str, Sender],
    smtp: SmtpServer,
    sms: SmsProvider,
) -> None:
    link_id = await queue(sessionmaker, world)
    customer = await customer_of(sessionmaker, world)

    report = await deliver(sessionmaker, senders)

    assert (report.sent, report.retrying, report.dead, report.suppressed) == (2, 0, 0, 0)
    [mail] = smtp.mailbox.messages
    assert mail["To"] == customer.email
    assert mail["Subject"] == "On the way"
    assert mail["Message-ID"] == f"<{message_id_for('visit:1:on_the_way:email')}@fieldwork.test>"
    assert mail["Auto-Submitted"] == "auto-generated"
    body = mail.get_content()
    assert "{link}" not in body
    urls = re.findall(rf"{re.escape(BASE)}/c/([A-Za-z0-9_-]+)", body)
    assert len(urls) == 1

    [(headers, payload)] = sms.received
    assert headers["authorization"] == "Bearer provider-token"
    assert payload["id"] == message_id_for("visit:1:on_the_way:sms") == headers["idempotency-key"]
    assert payload["to"] == customer.phone
    assert payload["text"] == body.strip()

    async with sessionmaker() as s:
        opened = await links.open_link(s, SECRET, urls[0], now=NOW)
    assert opened.link.id == link_id
    assert opened.job.id == world.jobs["north_open"]

    rows = await messages(sessionmaker)
    for row in rows.values():
        assert (row.state, row.sent_at, row.attempts, row.last_error, row.next_attempt_at) == (
            MessageState.SENT,
            NOW,
            1,
            None,
            None,
        )
    again = await deliver(sessionmaker, senders, NOW + dt.timedelta(hours=1))
    assert again.due == 0
    assert len(smtp.mailbox.messages) == 1
    assert len(sms.received) == 1


async def test_the_sender_writes_the_audit_log_as_the_outbox(
    sessionmaker: async_sessionmaker[AsyncSession], world: World, senders: dict[str, Sender]
) -> None:
    outbox_id = await add_message(sessionmaker)
    await deliver(sessionmaker, senders)
    async with sessionmaker() as s:
        actors = set(
            await s.scalars(sa.select(m.AuditEntry.actor).where(m.AuditEntry.entity_id == str(outbox_id)))
        )
    assert actors == {"test:queue", "system:outbox"}


async def test_a_technicians_day_queued_before_the_sender_existed_is_sent(
    sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
    senders: dict[str, Sender],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Plan messages are channel 'push', have a structured body and were queued with no next_attempt_at."""
    outbox_id = await add_message(
        sessionmaker,
        key="plan:1:technician:2",
        channel="push",
        recipient="tech_n1@example.com",
        subject="Your day has changed: 2 visit(s)",
        body={"plan_id": "1", "day": "2030-01-01", "stops": []},
        technician_id=world.technicians["tech_n1"],
        next_attempt_at=None,
    )
    with caplog.at_level(logging.INFO, logger="fieldwork.outbox"):
        report = await deliver(sessionmaker, senders)
    assert report.sent == 1
    assert (await one(sessionmaker, outbox_id)).state is MessageState.SENT
    assert "push to t***@example.com" in our_log(caplog)
    assert "tech_n1@example.com" not in our_log(caplog)


# Crashes and resends ---------------------------------------------------------------------------------------------


class Died(BaseException):
    """The process stopping dead: nothing of the delivery loop runs after it."""


class DiesAfterSending:
    def __init__(self, inner: Sender) -> None:
        self.inner = inner

    async def send(self, message: RenderedMessage) -> None:
        await self.inner.send(message)
        raise Died


async def test_a_sender_that_dies_after_sending_sends_again_with_the_same_message_id(
    sessionmaker: async_sessionmaker[AsyncSession], world: World, smtp: SmtpServer
) -> None:
    outbox_id = await add_message(sessionmaker, recipient="ada@example.net")
    sender = SmtpSender(smtp.config())

    with pytest.raises(Died):
        await deliver(sessionmaker, {"email": DiesAfterSending(sender)})

    leased = await one(sessionmaker, outbox_id)
    assert (leased.state, leased.attempts) == (MessageState.PENDING, 1)
    assert leased.next_attempt_at == NOW + dt.timedelta(seconds=POLICY.lease_s)
    # While the lease holds, nobody else sends it.
    early = await deliver(sessionmaker, {"email": sender}, NOW + dt.timedelta(seconds=POLICY.lease_s - 1))
    assert early.due == 0
    assert len(smtp.mailbox.messages) == 1

    later = NOW + dt.timedelta(seconds=POLICY.lease_s)
    report = await deliver(sessionmaker, {"email": sender}, later)

    assert report.sent == 1
    first, second = smtp.mailbox.messages
    assert first["Message-ID"] == second["Message-ID"]
    assert first.get_content() == second.get_content()
    done = await one(sessionmaker, outbox_id)
    assert (done.state, done.attempts, done.sent_at) == (MessageState.SENT, 2, later)


class Recording:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, message: RenderedMessage) -> None:
        self.sent.append(message.key)
        await asyncio.sleep(0.005)  # let the other worker run in between


async def test_two_workers_at_once_send_each_message_once(
    sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    keys = {f"many:{i}" for i in range(12)}
    for key in keys:
        await add_message(sessionmaker, key=key)
    sender = Recording()

    reports = await asyncio.gather(
        deliver(sessionmaker, {"email": sender}), deliver(sessionmaker, {"email": sender})
    )

    assert sorted(sender.sent) == sorted(keys)
    assert sum(r.sent for r in reports) == len(keys)
    assert {r.state for r in (await messages(sessionmaker)).values()} == {MessageState.SENT}


# Retries ---------------------------------------------------------------------------------------------------------


async def test_a_temporary_refusal_is_retried_with_growing_delays_then_given_up(
    sessionmaker: async_sessionmaker[AsyncSession], world: World, smtp: SmtpServer
) -> None:
    smtp.mailbox.refuse["busy@example.net"] = "451 4.2.1 Mailbox busy, try again later"
    outbox_id = await add_message(sessionmaker, recipient="busy@example.net")
    senders: dict[str, Sender] = {"email": SmtpSender(smtp.config())}

    now, delays = NOW, []
    for attempt in range(1, POLICY.max_attempts + 1):
        report = await deliver(sessionmaker, senders, now)
        row = await one(sessionmaker, outbox_id)
        assert row.attempts == attempt
        assert "451" in (row.last_error or "")
        if attempt == POLICY.max_attempts:
            assert report.dead == 1
            break
        assert (report.retrying, row.state) == (1, MessageState.PENDING)
        assert row.next_attempt_at is not None
        delays.append((row.next_attempt_at - now).total_seconds())
        # Not a moment before it is due.
        assert (await deliver(sessionmaker, senders, row.next_attempt_at - dt.timedelta(seconds=1))).due == 0
        now = row.next_attempt_at

    assert delays == [30, 60, 120, 240, 480, 960, 1920]
    dead = await one(sessionmaker, outbox_id)
    assert (dead.state, dead.next_attempt_at) == (MessageState.DEAD, None)
    assert smtp.mailbox.messages == []
    assert (await deliver(sessionmaker, senders, now + dt.timedelta(days=1))).due == 0


def test_the_backoff_doubles_and_stops_at_an_hour() -> None:
    delays = [POLICY.delay_after(n).total_seconds() for n in range(1, 12)]
    assert delays[:8] == [30, 60, 120, 240, 480, 960, 1920, 3600]
    assert set(delays[7:]) == {3600}


async def test_the_sms_provider_asking_to_come_back_is_retried_until_it_takes_the_message(
    sessionmaker: async_sessionmaker[AsyncSession], world: World, sms: SmsProvider
) -> None:
    sms.answers = [503, 429, 408]
    outbox_id = await add_message(sessionmaker, channel="sms", recipient="+33 6 12 34 56 78")
    sender = HttpSmsSender(sms.url)
    now = NOW
    try:
        for _ in range(3):
            assert (await deliver(sessionmaker, {"sms": sender}, now)).retrying == 1
            row = await one(sessionmaker, outbox_id)
            assert row.next_attempt_at is not None
            now = row.next_attempt_at
        assert (await deliver(sessionmaker, {"sms": sender}, now)).sent == 1
    finally:
        await sender.aclose()
    assert [body["id"] for _, body in sms.received] == [
        message_id_for((await one(sessionmaker, outbox_id)).key)
    ] * 4
    assert "authorization" not in sms.received[0][0]
    assert (await one(sessionmaker, outbox_id)).state is MessageState.SENT


async def test_an_unreachable_server_is_a_temporary_failure(
    sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    closed = free_port()
    email_id = await add_message(sessionmaker)
    sms_id = await add_message(sessionmaker, channel="sms", recipient="+33612345678")
    sms_sender = HttpSmsSender(f"http://127.0.0.1:{closed}/send")
    senders: dict[str, Sender] = {
        "email": SmtpSender(SmtpConfig(host="127.0.0.1", port=closed, sender=FROM, starttls=False)),
        "sms": sms_sender,
    }
    try:
        report = await deliver(sessionmaker, senders)
    finally:
        await sms_sender.aclose()
    assert report.retrying == 2
    for outbox_id, error in ((email_id, "ConnectionRefusedError"), (sms_id, "ConnectError")):
        row = await one(sessionmaker, outbox_id)
        assert (row.state, row.attempts) == (MessageState.PENDING, 1)
        assert error in (row.last_error or "")
        assert row.next_attempt_at == NOW + dt.timedelta(seconds=30)


async def test_a_permanent_refusal_is_dead_at_once_and_the_log_keeps_the_address_out(
    sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
    senders: dict[str, Sender],
    smtp: SmtpServer,
    sms: SmsProvider,
    caplog: pytest.LogCaptureFixture,
) -> None:
    gone = "gone@example.net"
    smtp.mailbox.refuse[gone] = f"550 5.1.1 <{gone}>: Recipient address rejected"
    sms.answers = [400]
    email_id = await add_message(sessionmaker, recipient=gone)
    sms_id = await add_message(sessionmaker, channel="sms", recipient="+33698765432")

    with caplog.at_level(logging.DEBUG, logger="fieldwork"):
        report = await deliver(sessionmaker, senders)

    assert report.dead == 2
    mail, text = await one(sessionmaker, email_id), await one(sessionmaker, sms_id)
    assert (mail.state, mail.attempts, mail.next_attempt_at) == (MessageState.DEAD, 1, None)
    assert "550" in (mail.last_error or "")
    assert gone in (mail.last_error or "")
    assert (text.state, text.attempts) == (MessageState.DEAD, 1)
    assert "400" in (text.last_error or "")
    assert smtp.mailbox.messages == []
    logged = our_log(caplog)
    assert "dead after 1 attempt" in logged
    assert gone not in logged
    assert "98765432" not in logged


# Opt-outs, duplicates, links ---------------------------------------------------------------------------------------


async def test_a_customer_who_opted_out_since_the_message_was_queued_gets_nothing_on_that_channel(
    sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
    senders: dict[str, Sender],
    smtp: SmtpServer,
    sms: SmsProvider,
) -> None:
    await queue(sessionmaker, world)
    await set_customer(sessionmaker, world.customers["north"], sms_opt_out=True)

    report = await deliver(sessionmaker, senders)

    assert (report.sent, report.suppressed) == (1, 1)
    assert sms.received == []
    assert len(smtp.mailbox.messages) == 1
    rows = await messages(sessionmaker)
    assert rows["sms"].state is MessageState.SUPPRESSED
    assert rows["sms"].last_error == "the customer opted out of sms before it was sent"
    assert rows["sms"].sent_at is None
    assert rows["email"].state is MessageState.SENT


async def test_a_channel_opted_out_when_queued_is_never_sent(
    sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
    senders: dict[str, Sender],
    smtp: SmtpServer,
    sms: SmsProvider,
) -> None:
    await set_customer(sessionmaker, world.customers["north"], email_opt_out=True)
    await queue(sessionmaker, world)

    report = await deliver(sessionmaker, senders)

    assert (report.due, report.sent) == (1, 1)
    assert smtp.mailbox.messages == []
    assert len(sms.received) == 1
    row = (await messages(sessionmaker))["email"]
    assert (row.state, row.attempts) == (MessageState.SUPPRESSED, 0)


async def test_the_same_key_queues_and_sends_one_message(
    sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
    senders: dict[str, Sender],
    smtp: SmtpServer,
    sms: SmsProvider,
) -> None:
    await queue(sessionmaker, world, key="job:1:completed")
    await queue(sessionmaker, world, key="job:1:completed")

    assert sorted(r.key for r in (await messages(sessionmaker)).values()) == [
        "job:1:completed:email",
        "job:1:completed:sms",
    ]
    await deliver(sessionmaker, senders)
    await deliver(sessionmaker, senders, NOW + dt.timedelta(hours=2))
    assert len(smtp.mailbox.messages) == 1
    assert len(sms.received) == 1
    with pytest.raises(IntegrityError):
        await add_message(sessionmaker, key="job:1:completed:email")


async def test_a_link_that_expired_or_disappeared_is_not_sent(
    sessionmaker: async_sessionmaker[AsyncSession], world: World, senders: dict[str, Sender], smtp: SmtpServer
) -> None:
    link_id = await queue(sessionmaker, world, purpose=LinkPurpose.TRACK)
    orphan = await add_message(sessionmaker, body={"text": "Rate us: {link}"}, link_id=None)
    too_late = NOW + links.LIFETIME[LinkPurpose.TRACK]

    report = await deliver(sessionmaker, senders, too_late)

    assert report.dead == 3
    assert smtp.mailbox.messages == []
    orphaned = await one(sessionmaker, orphan)
    assert orphaned.last_error == "the message refers to a customer link that no longer exists"
    for row in (await messages(sessionmaker)).values():
        if row.link_id == link_id:
            assert row.last_error == "the customer link expired before the message was sent"
        assert row.state is MessageState.DEAD


async def test_a_channel_without_a_sender_is_dead(
    sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    outbox_id = await add_message(sessionmaker, channel="push", recipient="tech_n1@example.com")
    assert (await deliver(sessionmaker, {})).dead == 1
    row = await one(sessionmaker, outbox_id)
    assert row.last_error == "no sender is configured for channel 'push'"


# The SMTP session itself ----------------------------------------------------------------------------------------


def _self_signed(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for 127.0.0.1, and a client context that trusts only it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


def _message(recipient: str = "ada@example.net") -> RenderedMessage:
    return RenderedMessage(
        outbox_id=uuid.uuid4(),
        key="k",
        message_id=message_id_for("k"),
        kind="test",
        channel="email",
        recipient=recipient,
        subject="Hello",
        text="Hello there",
    )


async def test_starttls_and_login_against_a_server_that_requires_both(tmp_path: Path) -> None:
    server_tls, client_tls = _self_signed(tmp_path)
    mailbox = Mailbox()

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        ok = (data.login, data.password) == (b"fieldwork", b"mail-password")
        mailbox.logins.append((data.login, bool(session.ssl)))
        # handled=False: aiosmtpd answers the refusal (535) itself.
        return AuthResult(success=ok, handled=False)

    controller, port = start_smtp(
        mailbox,
        tls_context=server_tls,
        require_starttls=True,
        auth_required=True,
        authenticator=authenticate,
    )
    try:
        config = SmtpConfig(
            host="127.0.0.1",
            port=port,
            sender=FROM,
            username="fieldwork",
            password="mail-password",
            starttls=True,
            tls_context=client_tls,
        )
        await SmtpSender(config).send(_message())
        assert len(mailbox.messages) == 1
        assert mailbox.logins == [(b"fieldwork", True)]

        # A refused login is ours to fix, not the message's fault: temporary.
        with pytest.raises(TemporaryFailure, match="smtp 535"):
            await SmtpSender(dataclasses.replace(config, password="wrong")).send(_message())
        with pytest.raises(TemporaryFailure):
            # Without STARTTLS this server accepts nothing: our configuration, not the message, is at fault.
            await SmtpSender(SmtpConfig(host="127.0.0.1", port=port, sender=FROM, starttls=False)).send(
                _message()
            )
        assert len(mailbox.messages) == 1
    finally:
        controller.stop()


def test_a_header_with_a_line_break_is_a_permanent_failure() -> None:
    sender = SmtpSender(SmtpConfig(host="127.0.0.1", sender=FROM))
    with pytest.raises(PermanentFailure):
        sender.build(_message("ada@example.net\r\nBcc: everyone@example.net"))


def test_configuration_mistakes_are_refused_at_once() -> None:
    with pytest.raises(ValueError, match="not an e-mail address"):
        SmtpSender(SmtpConfig(host="127.0.0.1", sender=""))
    with pytest.raises(ValueError, match="not an http"):
        HttpSmsSender("ftp://provider.example/send")


# What the log may show ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recipient", "shown"),
    [
        ("+44 7700 900112", "+44 **** **12"),
        ("+336123445781", "+33 **** **81"),
        ("06 12 34 56 78", "**** **78"),
        ("123", "****"),
        ("jane.doe@example.com", "j***@example.com"),
        ("@example.com", "***"),
        ("tech-7f3a", "***"),
    ],
)
def test_recipients_are_masked(recipient: str, shown: str) -> None:
    assert mask_recipient(recipient) == shown


def test_mask_helpers_keep_only_the_ends() -> None:
    assert mask_email("j@x.org") == "j***@x.org"
    assert mask_phone("+1 (555) 010-9999") == "+15 **** **99"


async def test_the_console_sink_logs_one_line_without_address_text_or_link(
    sessionmaker: async_sessionmaker[AsyncSession], world: World, caplog: pytest.LogCaptureFixture
) -> None:
    await queue(sessionmaker, world)
    customer = await customer_of(sessionmaker, world)
    console = ConsoleSender()

    with caplog.at_level(logging.INFO, logger="fieldwork.outbox"):
        report = await deliver(sessionmaker, {"email": console, "sms": console})

    assert report.sent == 2
    lines = [r.getMessage() for r in caplog.records if r.name == "fieldwork.outbox.console"]
    assert len(lines) == 2
    assert any(line.startswith("email to c***@example.net: on_the_way") for line in lines)
    assert any(line.startswith("sms to +33 **** **81: on_the_way") for line in lines)
    for forbidden in (customer.email or "?", customer.phone or "?", "/c/", "on the way, about"):
        assert forbidden not in our_log(caplog)
