"""The ten failures users of other sync systems have reported, each as a plain test (docs/sync.md)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain import changes
from domain import models as m
from sync.client import Unavailable
from sync.scope import prune
from tests.conftest import World
from tests.sync.devices import Clock, faulty, phone
from tests.sync.office import cancel, exceptions, give_skill, reassign, report


@pytest.fixture
def job(world: World) -> str:
    return str(world.jobs["north_assigned"])


def _notes(device: Any) -> list[str]:
    return sorted(n["body"] for n in device.rows("job_notes").values())


def test_1_a_slow_transaction_committing_after_a_pull_is_not_skipped(
    client: TestClient[Any],
    world: World,
    auth: Any,
    tmp_path: Path,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    device = phone(client, auth("tech_n1"), tmp_path / "phone.db")
    device.sync()

    async def slow_then_commit() -> None:
        async with sessionmaker() as slow:
            slow.add(
                m.JobNote(
                    job_id=world.jobs["north_assigned"],
                    technician_id=world.technicians["tech_n1"],
                    body="slow",
                )
            )
            # The transaction has its version (and holds the space's lock on PostgreSQL) but has not committed.
            await slow.run_sync(changes.stamp)
            device.pull()  # in between: must not move the cursor past the uncommitted version
            assert _notes(device) == []
            await slow.commit()

    asyncio.run(slow_then_commit())
    device.pull()
    assert _notes(device) == ["slow"]
    assert device.digest() == device.server_digest()


def test_2_a_lost_push_answer_retried_makes_no_duplicate_note(
    client: TestClient[Any], auth: Any, tmp_path: Path, job: str
) -> None:
    device, wire = faulty(client, auth("tech_n1"), tmp_path / "phone.db")
    device.sync()
    device.add_note(job, "only once")
    wire.fail("drop_response", "/push")
    with pytest.raises(Unavailable):
        device.sync()
    device.sync()
    assert _notes(device) == ["only once"]
    assert device.pending() == []
    assert report(client, auth("disp_north"), uuid.UUID(job))["notes"][0]["body"] == "only once"


def test_3_a_deleted_row_stays_deleted_on_a_fresh_install(
    client: TestClient[Any], auth: Any, tmp_path: Path, job: str
) -> None:
    device = phone(client, auth("tech_n1"), tmp_path / "phone.db")
    device.sync()
    line = device.add_part_line(job, "washer", 1)
    device.sync()
    assert line in device.rows("job_part_lines")
    device.remove_part_line(line)
    device.sync()
    assert line not in device.rows("job_part_lines")
    fresh = phone(client, auth("tech_n1"), tmp_path / "reinstalled.db")
    fresh.sync()
    assert fresh.rows("job_part_lines") == {}
    assert fresh.digest() == fresh.server_digest()


def test_4_a_poison_mutation_is_rejected_and_the_queue_moves_on(
    client: TestClient[Any], auth: Any, tmp_path: Path, job: str
) -> None:
    device = phone(client, auth("tech_n1"), tmp_path / "phone.db")
    device.sync()
    poison = device.record("job.set_fields.v1", {"job_id": job, "epoch": 1, "fields": {"priority": "urgent"}})
    unknown = device.record("job.teleport.v1", {"job_id": job})
    malformed = device.record("job.add_note.v1", {"job_id": job, "body": 42})
    device.add_note(job, "after the poison")
    device.sync()
    results = device.results()
    assert (results[poison]["result"], results[poison]["code"]) == ("rejected", "forbidden_field")
    assert results[unknown]["code"] == "unknown_mutation"
    assert results[malformed]["code"] == "invalid_args"
    assert _notes(device) == ["after the poison"]
    assert device.pending() == []


def test_5_killed_after_the_server_committed_loses_nothing_and_doubles_nothing(
    client: TestClient[Any], auth: Any, tmp_path: Path, job: str
) -> None:
    class Killed(Exception):
        pass

    def kill_after_push(point: str) -> None:
        if point == "after_push_response":
            raise Killed

    store = tmp_path / "phone.db"
    device = phone(client, auth("tech_n1"), store, crash_at=kill_after_push)
    device.sync()
    device.add_note(job, "written before the crash")
    device.start_time(job)
    with pytest.raises(Killed):
        device.sync()
    device.close()
    restarted = phone(client, auth("tech_n1"), store)
    assert len(restarted.pending()) == 2
    restarted.sync()
    assert _notes(restarted) == ["written before the crash"]
    assert len(restarted.rows("time_entries")) == 1
    assert restarted.pending() == []
    assert {r["result"] for r in restarted.results().values()} == {"duplicate"}


def test_6_completion_offline_against_a_cancellation_keeps_the_work_and_flags_it(
    client: TestClient[Any], world: World, auth: Any, tmp_path: Path, job: str
) -> None:
    device = phone(client, auth("tech_n1"), tmp_path / "phone.db")
    device.sync()
    for status in ("en_route", "on_site", "in_progress"):
        device.transition(job, status)
    device.add_note(job, "replaced the valve")
    device.capture_signature(job, b"signature image", "A. Customer")
    completed = device.transition(job, "completed")
    cancel(client, auth("disp_north"), world.jobs["north_assigned"])
    device.sync()
    assert device.results()[completed]["result"] == "applied_with_conflict"
    seen = report(client, auth("disp_north"), world.jobs["north_assigned"])
    assert seen["status"] == "completed"
    assert seen["signature"]["signer_name"] == "A. Customer"
    assert [n["body"] for n in seen["notes"]] == ["replaced the valve"]
    flagged = {x["code"]: x for x in exceptions(client, auth("disp_north"))}
    assert set(flagged) == {"job_cancelled", "completed_after_cancel"}
    assert flagged["job_cancelled"]["occurrences"] == 3  # en route, on site, in progress: one line, counted
    assert flagged["completed_after_cancel"]["job_id"] == job


def test_7_reassignment_while_offline_keeps_evidence_refuses_the_move_and_leaves_scope(
    client: TestClient[Any],
    world: World,
    auth: Any,
    tmp_path: Path,
    job: str,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    give_skill(sessionmaker, world, "tech_n2", "plumbing", 3)
    device = phone(client, auth("tech_n1"), tmp_path / "phone.db")
    device.sync()
    device.add_note(job, "customer not home")
    entry = device.start_time(job)
    device.stop_time(entry)
    moved = device.transition(job, "en_route")
    reassign(client, auth("disp_north"), world.jobs["north_assigned"], world.technicians["tech_n2"])
    device.sync()
    results = device.results()
    assert (results[moved]["result"], results[moved]["code"]) == ("rejected", "reassigned")
    seen = report(client, auth("disp_north"), world.jobs["north_assigned"])
    assert [n["body"] for n in seen["notes"]] == ["customer not home"]
    assert len(seen["time_entries"]) == 1
    [flagged] = exceptions(client, auth("disp_north"))
    assert (flagged["code"], flagged["technician_name"], flagged["job_description"]) == (
        "status_after_reassignment",
        "tech_n1",
        "job north_assigned",
    )
    assert exceptions(client, auth("disp_south")) == []  # another territory's
    closed = client.post(
        f"/api/sync-exceptions/{flagged['id']}/resolution",
        json={"resolution": "told tech_n1 the job moved"},
        headers=auth("disp_north"),
    )
    assert closed.status_code == 200, closed.text
    assert exceptions(client, auth("disp_north")) == []
    assert device.rows("jobs") == {}
    assert device.rows("job_notes") == {}
    assert device.digest() == device.server_digest()
    assert set(device.server_digest()) == {"skills", "service_types"}
    other = phone(client, auth("tech_n2"), tmp_path / "other.db")
    other.sync()
    assert set(other.rows("jobs")) == {job}
    assert _notes(other) == ["customer not home"]


def _outcome(client: TestClient[Any], auth: Any, job_id: uuid.UUID, device: Any) -> Any:
    seen = report(client, auth("disp_north"), job_id)
    events = client.get(f"/api/jobs/{job_id}/status-events", headers=auth("disp_north")).json()
    return (
        [e["to_status"] for e in events],
        sorted(n["body"] for n in seen["notes"]),
        sorted((p["part"], p["quantity"]) for p in seen["parts"]),
        sorted((r["result"], r["code"]) for r in device.results().values()),
    )


@pytest.mark.parametrize(
    "skew", [dt.timedelta(hours=-1), dt.timedelta(days=1)], ids=["hour_behind", "day_ahead"]
)
def test_8_a_wrong_device_clock_gives_the_same_server_outcome(
    client: TestClient[Any], world: World, auth: Any, tmp_path: Path, job: str, skew: dt.timedelta
) -> None:
    def work(device: Any) -> None:
        device.sync()
        device.transition(job, "en_route")
        device.add_note(job, "on my way")
        device.transition(job, "on_site")
        device.add_part_line(job, "valve", 1)
        entry = device.start_time(job)
        device.stop_time(entry)
        device.sync()

    skewed = phone(client, auth("tech_n1"), tmp_path / "skewed.db", clock=Clock(skew))
    work(skewed)
    outcome = _outcome(client, auth, world.jobs["north_assigned"], skewed)
    assert outcome[0][-2:] == ["en_route", "on_site"]
    assert outcome[1:3] == (["on my way"], [("valve", 1)])
    assert outcome[3] == [("applied", None)] * 6
    entry = report(client, auth("disp_north"), world.jobs["north_assigned"])["time_entries"][0]
    # Kept as the device said, with the offset that puts it right, and flagged for a person.
    assert abs(entry["clock_offset_s"] + skew.total_seconds()) < 60
    assert entry["flag"] == "clock_skew"


def test_9_offline_past_the_horizon_resets_and_keeps_pending_work(
    client: TestClient[Any],
    auth: Any,
    tmp_path: Path,
    job: str,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    away = phone(client, auth("tech_n1"), tmp_path / "away.db")
    away.sync()
    other = phone(client, auth("tech_n1"), tmp_path / "other.db")
    other.sync()
    line = other.add_part_line(job, "gasket", 1)
    other.sync()
    other.remove_part_line(line)
    other.sync()

    async def months_later() -> None:
        async with sessionmaker() as s:
            await prune(s, dt.datetime.now(dt.UTC) + dt.timedelta(days=91))
            await s.commit()

    asyncio.run(months_later())
    away.add_note(job, "written while away")
    away.pull()  # the cursor is past the horizon: the copy is fetched again, the pending note stays
    assert [p["name"] for p in away.pending()] == ["job.add_note.v1"]
    assert set(away.rows("jobs")) == {job}
    away.sync()
    assert _notes(away) == ["written while away"]
    assert away.digest() == away.server_digest()


def test_10_a_large_scope_arrives_in_pages_of_bounded_size(
    client: TestClient[Any],
    world: World,
    auth: Any,
    tmp_path: Path,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    body = "x" * 10_000
    count = 2_000  # 20 MB of notes

    async def fill() -> None:
        async with sessionmaker() as s:
            now = dt.datetime.now(dt.UTC)
            await s.execute(
                sa.insert(m.JobNote),
                [
                    {
                        "id": uuid.uuid4(),
                        "job_id": world.jobs["north_assigned"],
                        "technician_id": world.technicians["tech_n1"],
                        "body": body,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for _ in range(count)
                ],
            )
            await s.commit()

    asyncio.run(fill())
    device, wire = faulty(client, auth("tech_n1"), tmp_path / "phone.db", page_limit=100)
    device.sync()
    assert len(device.rows("job_notes")) == count
    pulls = [size for size in wire.sizes if size > 0]
    assert sum(pulls) > 20_000_000
    assert max(pulls) < 100 * 11_000  # one page: at most `limit` rows, whatever the scope's size


def test_a_row_deleted_while_its_job_left_the_scope_does_not_come_back(
    client: TestClient[Any],
    world: World,
    auth: Any,
    tmp_path: Path,
    job: str,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """Found in review: the tombstone is out of scope once the job is revoked, so the revoke must take it along."""
    give_skill(sessionmaker, world, "tech_n2", "plumbing", 3)
    away = phone(client, auth("tech_n1"), tmp_path / "away.db")
    other = phone(client, auth("tech_n1"), tmp_path / "other.db")
    other.sync()
    line = other.add_part_line(job, "washer", 1)
    other.sync()
    away.sync()
    assert line in away.rows("job_part_lines")
    other.remove_part_line(line)
    other.sync()
    reassign(client, auth("disp_north"), world.jobs["north_assigned"], world.technicians["tech_n2"])
    reassign(client, auth("disp_north"), world.jobs["north_assigned"], world.technicians["tech_n1"])
    away.sync()
    assert set(away.rows("jobs")) == {job}
    assert away.rows("job_part_lines") == {}
    assert away.digest() == away.server_digest()


def test_a_server_restored_from_before_a_push_gets_the_mutations_again(
    client: TestClient[Any],
    world: World,
    auth: Any,
    tmp_path: Path,
    job: str,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """The server lost the last push (restored from a backup) while the phone still holds it as pending."""
    device = phone(client, auth("tech_n1"), tmp_path / "phone.db")
    device.sync()
    device.add_note(job, "kept by the server")
    device.sync()
    device.add_note(job, "lost in the restore")
    device.push()  # acknowledged, not yet dropped: the phone has not pulled

    async def restore() -> None:
        async with sessionmaker() as s:
            await s.execute(sa.delete(m.JobNote).where(m.JobNote.body == "lost in the restore"))
            await s.execute(sa.delete(m.SyncMutation).where(m.SyncMutation.mutation_id == 2))
            await s.execute(sa.update(m.SyncDevice).values(last_mutation_id=1))
            await s.commit()

    asyncio.run(restore())
    device.sync()
    assert _notes(device) == ["kept by the server", "lost in the restore"]
    assert device.pending() == []
