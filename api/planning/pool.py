"""Solving plans off the request path, in at most `size` solver processes at once.

A request that asks for a plan stores it as `queued` and hands it here; it answers at once. A watcher task per
plan waits for the request's transaction to be visible, starts a solver process (the solver holds the GIL while it
searches, so a thread would stall the server), and copies its progress into the plan's row four times a second.
Progress is written with plain UPDATEs: it is bookkeeping, not a change anyone edits, so it neither bumps the
plan's version nor fills the audit log. A plan marked `cancelled` in the database (by any server process) is
stopped at the next progress write; one whose process dies or overruns its limit becomes `failed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import multiprocessing
import time
import uuid
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain import models as m
from domain.enums import PlanState

log = logging.getLogger("fieldwork.planning")

# How often a solver reports progress, and the watcher looks.
REPORT_EVERY_S = 0.25
# Beyond its time limit, how long a solver may take to start and to hand its plan back before it is stopped.
GRACE_S = 30.0
# How long the watcher waits for the request that queued the plan to commit it.
VISIBLE_WITHIN_S = 10.0
ACTIVE = (PlanState.QUEUED, PlanState.RUNNING)


class PoolFull(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__("every solver worker is busy")
        self.retry_after = retry_after


def solve_in_child(conn: Connection, problem: bytes, time_limit: float, hint: bytes | None) -> None:
    """The solver process: a plan (or an error) back through `conn`, with progress on the way."""
    from scheduling.plan import Plan
    from scheduling.problem import load_problem
    from scheduling.solver import solve

    last = 0.0

    def report(progress: dict[str, float]) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= REPORT_EVERY_S:
            last = now
            conn.send(("progress", progress))

    try:
        plan = solve(
            load_problem(problem),
            time_limit=time_limit,
            hint=msgspec.json.decode(hint, type=Plan) if hint else None,
            on_progress=report,
        )
        conn.send(("done", msgspec.json.encode(plan)))
    except Exception as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


@dataclass
class SolverPool:
    size: int
    sessionmaker: async_sessionmaker[AsyncSession]
    sqlite_writers: asyncio.Lock | None = None
    _watchers: dict[uuid.UUID, asyncio.Task[None]] = field(default_factory=dict)
    _processes: dict[uuid.UUID, Any] = field(default_factory=dict)
    _closing: bool = False

    @property
    def busy(self) -> int:
        return len(self._watchers)

    def submit(self, plan_id: uuid.UUID, problem: bytes, time_limit: float, hint: bytes | None) -> None:
        """Queue a plan that the current request is storing; PoolFull when every worker is taken."""
        if self.busy >= self.size:
            raise PoolFull(retry_after=max(1, int(time_limit)))
        task = asyncio.get_running_loop().create_task(self._watch(plan_id, problem, time_limit, hint))
        self._watchers[plan_id] = task

    def stop(self, plan_id: uuid.UUID) -> None:
        """Stop the plan's solver if this process runs it (the caller marks the plan cancelled)."""
        process = self._processes.get(plan_id)
        if process is not None and process.is_alive():
            process.terminate()

    async def close(self) -> None:
        """Stop every solver and let the watchers wind down between two database calls (a task cancelled in
        the middle of one would leave the driver's thread answering a closed loop). Plans left running are
        failed at the next start by `fail_abandoned`."""
        self._closing = True
        for plan_id in list(self._processes):
            self.stop(plan_id)
        watchers = list(self._watchers.values())
        if watchers:
            _, late = await asyncio.wait(watchers, timeout=5)
            for task in late:
                task.cancel()

    async def _watch(self, plan_id: uuid.UUID, problem: bytes, time_limit: float, hint: bytes | None) -> None:
        try:
            if not await self._wait_until_visible(plan_id):
                return
            await self._run(plan_id, problem, time_limit, hint)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("plan %s: the watcher failed", plan_id)
            await self._update(plan_id, state=PlanState.FAILED, error=f"{type(exc).__name__}: {exc}")
        finally:
            process = self._processes.pop(plan_id, None)
            if process is not None and process.is_alive():
                process.terminate()
            self._watchers.pop(plan_id, None)

    async def _wait_until_visible(self, plan_id: uuid.UUID) -> bool:
        give_up = time.monotonic() + VISIBLE_WITHIN_S
        while time.monotonic() < give_up and not self._closing:
            async with self.sessionmaker() as session:
                state = await session.scalar(sa.select(m.Plan.state).where(m.Plan.id == plan_id))
            if state is not None:
                return state in ACTIVE
            await asyncio.sleep(0.05)
        return False  # the request that queued it never committed

    async def _run(self, plan_id: uuid.UUID, problem: bytes, time_limit: float, hint: bytes | None) -> None:
        context = _solver_context()
        receiving, sending = context.Pipe(duplex=False)
        process = context.Process(
            target=solve_in_child, args=(sending, problem, time_limit, hint), daemon=True
        )
        process.start()
        sending.close()
        self._processes[plan_id] = process
        if not await self._update(plan_id, state=PlanState.RUNNING, started_at=_now()):
            return
        give_up = time.monotonic() + time_limit + GRACE_S
        progress: dict[str, float] | None = None
        best: dict[str, float] | None = None
        while not self._closing:
            while receiving.poll():
                try:
                    kind, payload = receiving.recv()
                except EOFError:
                    kind, payload = "error", "the solver process stopped without an answer"
                if kind == "progress":
                    # The search reports every solution it accepts, not only better ones: keep the best.
                    if best is None or payload["objective"] <= best["objective"]:
                        best = progress = payload
                    continue
                if kind == "done":
                    await self._update(
                        plan_id,
                        state=PlanState.READY,
                        result=msgspec.json.decode(payload),
                        finished_at=_now(),
                        **_progress_columns(progress, final=msgspec.json.decode(payload)),
                    )
                else:
                    await self._update(
                        plan_id, state=PlanState.FAILED, error=str(payload), finished_at=_now()
                    )
                return
            if progress is not None and not await self._update(plan_id, **_progress_columns(progress)):
                self.stop(plan_id)  # cancelled meanwhile
                return
            progress = None
            if not process.is_alive() and not receiving.poll():
                await self._update(
                    plan_id,
                    state=PlanState.FAILED,
                    error="the solver process stopped without an answer",
                    finished_at=_now(),
                )
                return
            if time.monotonic() > give_up:
                self.stop(plan_id)
                await self._update(
                    plan_id,
                    state=PlanState.FAILED,
                    error="the solver overran its time limit",
                    finished_at=_now(),
                )
                return
            await asyncio.sleep(REPORT_EVERY_S)

    async def _update(self, plan_id: uuid.UUID, **values: Any) -> bool:
        """Write to a plan that is still queued or running; False when it no longer is (cancelled)."""
        lock = self.sqlite_writers or contextlib.nullcontext()
        async with lock, self.sessionmaker() as session:
            result = await session.execute(
                sa.update(m.Plan)
                .where(m.Plan.id == plan_id, m.Plan.state.in_(ACTIVE))
                .values(**values, updated_at=_now())
                .execution_options(synchronize_session=False)
            )
            await session.commit()
        return bool(getattr(result, "rowcount", 0))


def _progress_columns(
    progress: dict[str, float] | None, final: dict[str, Any] | None = None
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if progress is not None:
        values = {
            "elapsed_s": progress["elapsed"],
            "best_objective": progress["objective"],
            "assigned_so_far": int(progress["assigned"]),
        }
    if final is not None:
        values["elapsed_s"] = (final.get("solve_ms") or 0) / 1000
        values["best_objective"] = float(final.get("objective", {}).get("total", 0))
        values["assigned_so_far"] = int(final["totals"]["assigned"])
    return values


def _solver_context() -> Any:
    """Solver processes fork from a fork server that has already imported the scheduler: a plan starts in tens
    of milliseconds instead of the second it takes to import OR-Tools. The fork server is itself started fresh,
    never forked from the threaded web server."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["scheduling.solver", "api.planning.pool"])
    return context


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def fail_abandoned(sessionmaker: async_sessionmaker[AsyncSession], *, grace_s: float = GRACE_S) -> int:
    """Plans left queued or running by a server that stopped: failed once they are past any solver's time."""
    now = _now()
    async with sessionmaker() as session:
        plans = (await session.scalars(sa.select(m.Plan).where(m.Plan.state.in_(ACTIVE)))).all()
        stale = [
            p.id
            for p in plans
            if (p.started_at or p.created_at) + dt.timedelta(seconds=p.time_limit_s + grace_s) < now
        ]
        if stale:
            await session.execute(
                sa.update(m.Plan)
                .where(m.Plan.id.in_(stale), m.Plan.state.in_(ACTIVE))
                .values(state=PlanState.FAILED, error="the service stopped while solving", finished_at=now)
                .execution_options(synchronize_session=False)
            )
            await session.commit()
    return len(stale)
