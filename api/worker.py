"""The outbox's background sender, started and stopped with the app (see api.app).

It polls for due messages every `FIELDWORK_OUTBOX_POLL_S` seconds, and at once again after a full round, since more
may be waiting. A round that fails (the database away, a bug) is logged and the loop carries on; a message is never
lost by it, because nothing is marked sent before it was sent. Several server processes may each run one: on
PostgreSQL they share the work, on SQLite they take turns.
"""

from __future__ import annotations

import asyncio
import logging

from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.background import STOP_GRACE_S, BackgroundLoop
from api.settings import Settings
from domain.delivery import (
    DEFAULT_POLICY,
    ConsoleSender,
    HttpSmsSender,
    RetryPolicy,
    Sender,
    SmtpConfig,
    SmtpSender,
    deliver_due,
)
from domain.delivery.messages import Closable
from domain.enums import MessageChannel

log = logging.getLogger("fieldwork.outbox")

# Messages claimed per round before the worker looks again (and checks whether it should stop).
BATCH = 50
# Shutdown waits STOP_GRACE_S for the message being sent before cancelling it; a message cancelled between its send
# and its mark comes back when its lease runs out, with the same message id.


def senders_from_settings(settings: Settings) -> dict[str, Sender]:
    console = ConsoleSender()
    email: Sender = console
    if settings.smtp_host:
        email = SmtpSender(
            SmtpConfig(
                host=settings.smtp_host,
                port=settings.smtp_port,
                sender=settings.smtp_from,
                username=settings.smtp_user,
                password=settings.smtp_password,
                starttls=settings.smtp_starttls,
            )
        )
    sms: Sender = console
    if settings.sms_url:
        sms = HttpSmsSender(settings.sms_url, token=settings.sms_token)
    return {
        MessageChannel.EMAIL.value: email,
        MessageChannel.SMS.value: sms,
        MessageChannel.PUSH.value: console,
    }


class OutboxWorker(BackgroundLoop):
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        senders: dict[str, Sender],
        *,
        link_secret: bytes,
        public_base_url: str,
        poll_s: float,
        write_lock: asyncio.Lock | None = None,
        policy: RetryPolicy = DEFAULT_POLICY,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.senders = senders
        self.link_secret = link_secret
        self.public_base_url = public_base_url
        self.poll_s = poll_s
        self.write_lock = write_lock
        self.policy = policy
        super().__init__()

    def start(self) -> None:
        self._start(self._run(), "fieldwork-outbox")

    async def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Finish the message in hand, then stop (see BackgroundLoop.stop); then close the senders."""
        await super().stop(grace_s)
        for sender in {id(s): s for s in self.senders.values()}.values():
            if isinstance(sender, Closable):
                await sender.aclose()

    async def _run(self) -> None:
        log.info("outbox sender started (every %.1f s)", self.poll_s)
        while not self._stopping.is_set():
            full = False
            try:
                report = await deliver_due(
                    self.sessionmaker,
                    self.senders,
                    link_secret=self.link_secret,
                    public_base_url=self.public_base_url,
                    limit=BATCH,
                    policy=self.policy,
                    write_lock=self.write_lock,
                    stopping=self._stopping,
                )
                full = report.due >= BATCH
            except Exception:
                log.exception("outbox: a delivery round failed; trying again in %.1f s", self.poll_s)
            if full:
                continue
            await self._pause(self.poll_s)
        log.info("outbox sender stopped")


async def start_outbox_worker(app: Litestar) -> None:
    """Startup hook: the worker runs when the settings ask for it (`FIELDWORK_OUTBOX_WORKER`, on by default)."""
    settings: Settings = app.state.settings
    if not settings.outbox_worker:
        return
    worker = OutboxWorker(
        app.state.sessionmaker,
        senders_from_settings(settings),
        link_secret=app.state.server_keys.link_secret,
        public_base_url=settings.public_base_url,
        poll_s=settings.outbox_poll_s,
        write_lock=app.state.sqlite_writers,
    )
    app.state.outbox_worker = worker
    worker.start()


async def stop_outbox_worker(app: Litestar) -> None:
    worker: OutboxWorker | None = app.state.get("outbox_worker")
    if worker is not None:
        await worker.stop()
