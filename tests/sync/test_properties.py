"""The protocol's properties, driven by hypothesis: phones working offline through a transport that loses,
repeats and delays, killed at named points, with wrong clocks, while the office cancels and reassigns and edits.

A small model of what each phone asked for is the oracle: whatever the server says it applied (its own record of
each mutation) must be exactly what the office can see, and every phone must end up holding exactly its scope.
The numbers refer to the properties in docs/sync.md.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from domain import job_status
from domain import models as m
from domain.enums import JobStatus
from sync.client import HttpTransport, SyncClient, Unavailable
from sync.scope import prune
from tests.sync.devices import Clock, FaultyTransport
from tests.sync.stage import Cast, Stage, open_stage

CRASH_POINTS = [
    "before_push",
    "after_push_response",
    "before_pull",
    "after_page_received",
    "after_page_applied",
    "before_drop",
]
FAULTS = ["drop_request", "drop_response", "duplicate"]
NEXT_STATUS = {
    "dispatched": "en_route",
    "en_route": "on_site",
    "on_site": "in_progress",
    "in_progress": "completed",
}
SIGNATURES = [b"signature one", b"signature two"]
# Each example is a dozen steps over two phones and a real server: half the profile's count (50 in the suite's
# `ci` profile) fits its time budget. The long runs (`SYNC_EXAMPLES`, docs/benchmarks.md) go to thousands.
EXAMPLES = max(1, settings.default.max_examples // 2)


class Killed(Exception):
    """The app was killed at a named point."""


@pytest.fixture(scope="module")
def stage(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    yield from open_stage(database_url, tmp_path_factory.mktemp("stage"))


@dataclass
class Phone:
    """One technician's device: its client, its transport and where its state lives."""

    owner: int
    store: Path
    transport: FaultyTransport
    clock: Clock
    client: SyncClient
    crash: str | None = None
    office_between_pages: bool = False
    # Mutation id -> what it was meant to do, for the oracle.
    intents: dict[int, tuple[str, dict[str, Any]]] = field(default_factory=dict)


class SyncMachine(RuleBasedStateMachine):
    stage: Stage

    def __init__(self) -> None:
        super().__init__()
        self.cast: Cast = self.stage.cast()
        self.phones: list[Phone] = []
        self.seen_notes: set[uuid.UUID] = set()
        self.seen_entries: set[uuid.UUID] = set()
        self.signatures: dict[uuid.UUID, str] = {}
        self.removed_lines: set[uuid.UUID] = set()
        # Whether the server may have changed since the invariants last looked (offline steps leave it alone).
        self.touched = True

    # Setup ------------------------------------------------------------------------------------------------------

    @initialize(
        skews=st.lists(st.sampled_from([0, -3600, 86400, 7]), min_size=2, max_size=2),
        page=st.integers(min_value=1, max_value=6),
    )
    def phones_bootstrap(self, skews: list[int], page: int) -> None:
        for owner, skew in enumerate(skews):
            store = self.stage.root / f"{uuid.uuid4().hex}.db"
            transport = FaultyTransport(HttpTransport(self.stage.client, self.cast.tokens[owner]))
            clock = Clock(dt.timedelta(seconds=skew))
            phone = Phone(owner, store, transport, clock, self._client(store, transport, clock, page))
            self.phones.append(phone)
            phone.client.sync()
        self.page = page

    def _client(self, store: Path, transport: FaultyTransport, clock: Clock, page: int) -> SyncClient:
        def hook(point: str) -> None:
            phone = next((p for p in self.phones if p.store == store), None)
            if phone is None:
                return
            if phone.crash == point:
                phone.crash = None
                raise Killed(point)
            if phone.office_between_pages and point == "after_page_applied":
                phone.office_between_pages = False
                self._office_edit(0)  # a writer commits while the phone is between two pages (5)

        return SyncClient(store, transport, clock=clock, page_limit=page, crash_at=hook)

    def _restart(self, phone: Phone) -> None:
        phone.client.close()
        phone.client = self._client(phone.store, phone.transport, phone.clock, self.page)

    # The technician, offline ----------------------------------------------------------------------------------

    def _job(self, index: int) -> str:
        return str(self.cast.jobs[index % len(self.cast.jobs)])

    @rule(who=st.integers(0, 1), job=st.integers(0, 2), body=st.text(min_size=1, max_size=20))
    def write_note(self, who: int, job: int, body: str) -> None:
        phone = self.phones[who]
        note = phone.client.add_note(self._job(job), body)
        phone.intents[self._last_id(phone)] = ("note", {"id": note, "body": body})

    @rule(who=st.integers(0, 1), job=st.integers(0, 2))
    def move_on(self, who: int, job: int) -> None:
        phone = self.phones[who]
        shown = phone.client.view("jobs").get(self._job(job))
        if shown is not None and shown["status"] in NEXT_STATUS:
            phone.client.transition(self._job(job), NEXT_STATUS[shown["status"]])

    @rule(who=st.integers(0, 1), job=st.integers(0, 2), quantity=st.integers(1, 5))
    def use_part(self, who: int, job: int, quantity: int) -> None:
        phone = self.phones[who]
        line = phone.client.add_part_line(self._job(job), "washer", quantity)
        phone.intents[self._last_id(phone)] = ("line", {"id": line, "quantity": quantity})

    @rule(who=st.integers(0, 1), pick=st.integers(0, 10), quantity=st.integers(1, 9), remove=st.booleans())
    def change_part(self, who: int, pick: int, quantity: int, remove: bool) -> None:
        phone = self.phones[who]
        lines = sorted(k for kind, k in self._own(phone, "line") if k in phone.client.view("job_part_lines"))
        if not lines:
            return
        line = lines[pick % len(lines)]
        if remove:
            phone.client.remove_part_line(line)
            phone.intents[self._last_id(phone)] = ("remove", {"id": line})
        else:
            phone.client.set_part_qty(line, quantity)
            phone.intents[self._last_id(phone)] = ("qty", {"id": line, "quantity": quantity})

    @rule(who=st.integers(0, 1), job=st.integers(0, 2))
    def clock_in_and_out(self, who: int, job: int) -> None:
        phone = self.phones[who]
        entry = phone.client.start_time(self._job(job))
        phone.intents[self._last_id(phone)] = ("entry", {"id": entry})
        phone.client.stop_time(entry)

    @rule(who=st.integers(0, 1), job=st.integers(0, 2), image=st.sampled_from(SIGNATURES))
    def sign(self, who: int, job: int, image: bytes) -> None:
        self.phones[who].client.capture_signature(self._job(job), image, "Customer")

    @rule(who=st.integers(0, 1), job=st.integers(0, 2))
    def fill_checklist(self, who: int, job: int) -> None:
        self.phones[who].client.set_fields(self._job(job), {"Tested": True, "outcome": "fixed"})

    def _last_id(self, phone: Phone) -> int:
        return max(p["id"] for p in phone.client.pending())

    def _own(self, phone: Phone, kind: str) -> Iterator[tuple[str, str]]:
        for intent_kind, details in phone.intents.values():
            if intent_kind == kind:
                yield kind, details["id"]

    # Syncing through faults -----------------------------------------------------------------------------------

    @rule(
        who=st.integers(0, 1),
        fault=st.sampled_from([None, *FAULTS]),
        on=st.sampled_from(["/push", "/pull"]),
        crash=st.sampled_from([None, *CRASH_POINTS]),
        office=st.booleans(),
    )
    def sync(self, who: int, fault: str | None, on: str, crash: str | None, office: bool) -> None:
        self.touched = True
        phone = self.phones[who]
        if fault is not None:
            phone.transport.fail(fault, on)
        phone.crash, phone.office_between_pages = crash, office
        try:
            phone.client.sync()
        except Unavailable:
            pass
        except Killed:
            self._restart(phone)
        else:
            self._check_pull_agrees_with_acknowledgements(phone)  # (6)
        finally:
            phone.transport.plan.clear()
            phone.crash, phone.office_between_pages = None, False

    @rule(who=st.integers(0, 1))
    def replay_last_push(self, who: int) -> None:
        """(3) Sending an acknowledged push again changes nothing."""
        self.touched = True
        phone = self.phones[who]
        body = phone.transport.last_push
        if body is None:
            return
        before = self._server_version()
        reply = phone.transport.inner("POST", "/push", json_body=body)
        assert reply.status == 200, reply.body
        assert {r["result"] for r in reply.body["results"]} == {"duplicate"}
        assert self._server_version() == before

    # The office ------------------------------------------------------------------------------------------------

    @rule(job=st.integers(0, 2))
    def office_cancels(self, job: int) -> None:
        self.touched = True
        self.stage.client.post(
            f"/api/jobs/{self._job(job)}/transitions",
            json={"to_status": "cancelled", "reason": "customer called"},
            headers=self.cast.office,
        )  # refused (409) when the job is under way: that is the office's rule, not the sync's

    @rule(job=st.integers(0, 2))
    def office_reassigns(self, job: int) -> None:
        self.touched = True
        client, office, job_id = self.stage.client, self.cast.office, self._job(job)
        current = client.get(f"/api/jobs/{job_id}", headers=office).json()
        holder = current.get("assignment", {}) or {}
        other = next(t for t in self.cast.technicians if str(t) != holder.get("technician_id"))
        if (
            client.post(
                f"/api/jobs/{job_id}/transitions",
                json={"to_status": "on_hold", "reason": "swap"},
                headers=office,
            ).status_code
            != 200
        ):
            return
        assert (
            client.put(
                f"/api/jobs/{job_id}/assignment", json={"technician_id": str(other)}, headers=office
            ).status_code
            == 200
        )
        assert (
            client.post(
                f"/api/jobs/{job_id}/transitions", json={"to_status": "dispatched"}, headers=office
            ).status_code
            == 200
        )

    @rule(job=st.integers(0, 2))
    def office_edit(self, job: int) -> None:
        self.touched = True
        self._office_edit(job)

    def _office_edit(self, job: int) -> None:
        async def edit() -> None:
            async with self.stage.maker() as s:
                found = await s.get_one(m.Job, uuid.UUID(self._job(job)))
                found.description = f"edited {uuid.uuid4().hex[:6]}"
                await s.commit()

        self.stage.run(edit())

    @rule()
    def months_pass(self) -> None:
        """(9) Tombstones past the horizon are pruned; phones behind them must start again."""
        self.touched = True

        async def run() -> None:
            async with self.stage.maker() as s:
                await prune(s, dt.datetime.now(dt.UTC) + dt.timedelta(days=91))
                await s.commit()

        self.stage.run(run())

    # What must always hold ------------------------------------------------------------------------------------

    def _server_version(self) -> int:
        async def read() -> int:
            async with self.stage.maker() as s:
                return int(await s.scalar(sa.select(m.SyncSpace.version)) or 0)

        return int(self.stage.run(read()))

    def _applied(self) -> dict[tuple[int, int], str]:
        """(device owner, mutation id) -> result, from the server's own record of every mutation."""

        async def read() -> dict[tuple[int, int], str]:
            async with self.stage.maker() as s:
                rows = await s.execute(
                    sa.select(m.SyncMutation.device_id, m.SyncMutation.mutation_id, m.SyncMutation.result)
                )
                by_device = {uuid.UUID(p.client.device_id): p.owner for p in self.phones}
                return {(by_device[d], i): r for d, i, r in rows if d in by_device}

        return dict(self.stage.run(read()))

    def _server_state(self) -> dict[str, Any]:
        jobs = [uuid.UUID(j) for j in map(self._job, range(3))]

        async def read() -> dict[str, Any]:
            async with self.stage.maker() as s:
                events = await s.execute(
                    sa.select(m.JobStatusEvent.job_id, m.JobStatusEvent.to_status)
                    .where(m.JobStatusEvent.job_id.in_(jobs))
                    .order_by(m.JobStatusEvent.occurred_at, m.JobStatusEvent.created_at)
                )
                history: dict[uuid.UUID, list[JobStatus]] = {}
                for job_id, status in events:
                    history.setdefault(job_id, []).append(status)
                notes = {
                    n.id: n.body
                    for n in await s.scalars(sa.select(m.JobNote).where(m.JobNote.job_id.in_(jobs)))
                }
                lines = {
                    p.id: p.quantity
                    for p in await s.scalars(sa.select(m.JobPartLine).where(m.JobPartLine.job_id.in_(jobs)))
                }
                entries = {
                    e.id for e in await s.scalars(sa.select(m.TimeEntry).where(m.TimeEntry.job_id.in_(jobs)))
                }
                signatures = {
                    x.job_id: x.sha256
                    for x in await s.scalars(sa.select(m.JobSignature).where(m.JobSignature.job_id.in_(jobs)))
                }
                devices = {
                    d.device_id: d.last_mutation_id
                    for d in await s.scalars(
                        sa.select(m.SyncDevice).where(m.SyncDevice.technician_id.in_(self.cast.technicians))
                    )
                }
                return {
                    "history": history,
                    "notes": notes,
                    "lines": lines,
                    "entries": entries,
                    "signatures": signatures,
                    "devices": devices,
                }

        return dict(self.stage.run(read()))

    @invariant()
    def domain_rules_hold(self) -> None:
        """(8) Status histories are legal paths; a signature never changes; notes and time never vanish.
        (2, 4) Every mutation the server applied is in effect, and each device's mutations were applied in
        order with nothing after a gap."""
        if not self.touched:
            return
        self.touched = False
        state = self._server_state()
        for job_id, statuses in state["history"].items():
            assert job_status.is_legal_history(statuses), (job_id, statuses)
        for job_id, sha in state["signatures"].items():
            assert self.signatures.setdefault(job_id, sha) == sha
        notes, entries = set(state["notes"]), state["entries"]
        assert self.seen_notes <= notes
        assert self.seen_entries <= entries
        self.seen_notes, self.seen_entries = notes, entries
        assert not (self.removed_lines & set(state["lines"]))
        applied = self._applied()
        for phone in self.phones:
            ids = sorted(i for owner, i in applied if owner == phone.owner)
            last = state["devices"].get(uuid.UUID(phone.client.device_id), 0)
            assert ids == list(range(1, last + 1))
        self._check_model(state, applied)

    def _check_model(self, state: dict[str, Any], applied: dict[tuple[int, int], str]) -> None:
        """The oracle: replay what the server says it applied, per phone in id order, and compare."""
        notes: dict[str, str] = {}
        lines: dict[str, float] = {}
        removed: set[str] = set()
        entries: set[str] = set()
        for phone in self.phones:
            for mutation_id, (kind, details) in sorted(phone.intents.items()):
                if applied.get((phone.owner, mutation_id)) not in {"applied", "applied_with_conflict"}:
                    continue
                if kind == "note":
                    notes[details["id"]] = details["body"]
                elif (kind == "line" and details["id"] not in removed) or (
                    kind == "qty" and details["id"] in lines
                ):
                    lines[details["id"]] = details["quantity"]
                elif kind == "remove":
                    lines.pop(details["id"], None)
                    removed.add(details["id"])
                elif kind == "entry":
                    entries.add(details["id"])
        assert {str(k): v for k, v in state["notes"].items()} == notes
        assert {str(k): v for k, v in state["lines"].items()} == lines
        assert {str(e) for e in state["entries"]} == entries
        self.removed_lines |= {uuid.UUID(r) for r in removed}

    def _check_pull_agrees_with_acknowledgements(self, phone: Phone) -> None:
        """(6) After a full pull, the copy holds the effects of the acknowledged mutations and none after."""
        client, last = phone.client, phone.client.last_acknowledged
        held = client.rows("job_notes")
        scope = set(client.rows("jobs"))
        applied = self._applied()
        for mutation_id, (kind, details) in phone.intents.items():
            if kind != "note":
                continue
            note = details["id"]
            if mutation_id > last:
                assert note not in held, "a pull showed the effect of a mutation it did not acknowledge"
            elif applied.get((phone.owner, mutation_id)) == "applied" and note in held:
                assert held[note]["job_id"] in scope

    def teardown(self) -> None:
        """(1, 7, 11) With the faults healed, a bounded number of rounds brings every phone to exactly its scope,
        and a further round changes nothing."""
        try:
            for phone in self.phones:
                phone.transport.plan.clear()
                phone.crash, phone.office_between_pages = None, False
            for _round in range(3):
                for phone in self.phones:
                    phone.client.sync()
            for phone in self.phones:
                assert phone.client.pending() == []
                assert phone.client.digest() == phone.client.server_digest()
                assert phone.client.pull() == 0
            self.touched = True
            self.domain_rules_hold()
        finally:
            for phone in self.phones:
                phone.client.close()


def test_sync_properties_hold_under_faults(stage: Stage) -> None:
    SyncMachine.stage = stage
    run_state_machine_as_test(
        SyncMachine,
        settings=settings(
            max_examples=int(os.environ.get("SYNC_EXAMPLES", EXAMPLES)),
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
