"""The early-warning watch, started and stopped with the app (see api.app): one evaluation pass
(domain.services.warnings) every `FIELDWORK_WARNINGS_INTERVAL_S` seconds, each in a transaction of its own, and
after it a refresh of the KPIs' daily tallies (domain.kpis.store) in another.

A pass that fails (the database away, a bug) is logged and the next one runs on time: the passes hold no state
between them, so nothing is lost but the time. Several server processes may each run one; they take turns on the
audit head and the open warnings' unique index keeps each warning single.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable

from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.background import BackgroundLoop
from api.kpi_tallies import refresh_kpis_once
from api.settings import Settings
from domain.services import warnings

log = logging.getLogger("fieldwork.warnings")


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def evaluate_once(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    now: dt.datetime,
    write_lock: asyncio.Lock | None = None,
) -> warnings.Report:
    """One pass in its own transaction. On SQLite the process's writers queue on `write_lock` first, as requests
    do (api.deps.provide_session)."""
    async with write_lock or contextlib.nullcontext(), sessionmaker() as session:
        session.info["actor"] = warnings.ACTOR
        report = await warnings.evaluate(session, now=now)
        await session.commit()
    return report


class WarningWatch(BackgroundLoop):
    """The watch; a pass cancelled at shutdown rolls back."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        interval_s: float,
        write_lock: asyncio.Lock | None = None,
        clock: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"the warnings interval must be positive; it is {interval_s}")
        self.sessionmaker = sessionmaker
        self.interval_s = interval_s
        self.write_lock = write_lock
        self.clock = clock
        self.passes = 0
        self.failures = 0
        super().__init__()

    def start(self) -> None:
        self._start(self._run(), "fieldwork-warnings")

    async def run_once(self) -> warnings.Report | None:
        """One pass; a failure is logged and counted, never raised (the next pass may well succeed)."""
        try:
            report = await evaluate_once(self.sessionmaker, now=self.clock(), write_lock=self.write_lock)
        except Exception:
            self.failures += 1
            log.exception("warnings: an evaluation pass failed; the next runs in %.1f s", self.interval_s)
            return None
        self.passes += 1
        try:
            await refresh_kpis_once(self.sessionmaker, now=self.clock(), write_lock=self.write_lock)
        except Exception:
            self.failures += 1
            log.exception("warnings: refreshing the KPI tallies failed; the next pass tries again")
        if report.raised or report.cleared:
            log.info(
                "warnings: %d raised (%d e-mails queued), %d cleared, %d updated, %d open",
                report.raised,
                report.notified,
                report.cleared,
                report.updated,
                report.open,
            )
        return report

    async def _run(self) -> None:
        log.info("early-warning watch started (every %.1f s)", self.interval_s)
        # The first pass waits one interval: a server starting up (or a test's app) has other things to do first.
        while not await self._pause(self.interval_s):
            await self.run_once()
        log.info("early-warning watch stopped")


async def start_warning_watch(app: Litestar) -> None:
    """Startup hook: the watch runs when the settings ask for it (`FIELDWORK_WARNINGS_WATCH`, on by default)."""
    settings: Settings = app.state.settings
    if not settings.warnings_watch:
        return
    watch = WarningWatch(
        app.state.sessionmaker, interval_s=settings.warnings_interval_s, write_lock=app.state.sqlite_writers
    )
    app.state.warning_watch = watch
    watch.start()


async def stop_warning_watch(app: Litestar) -> None:
    watch: WarningWatch | None = app.state.get("warning_watch")
    if watch is not None:
        await watch.stop()
