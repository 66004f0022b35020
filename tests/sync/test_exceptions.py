"""What the dispatcher is told: a second signature, a device clock far off, work on a cancelled job; each once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from tests.conftest import World
from tests.sync.devices import Clock, phone
from tests.sync.office import exceptions, report


def test_a_second_signature_is_refused_and_flagged_the_first_stands(
    client: TestClient[Any], world: World, auth: Any, tmp_path: Path
) -> None:
    job = str(world.jobs["north_assigned"])
    first = phone(client, auth("tech_n1"), tmp_path / "first.db")
    second = phone(client, auth("tech_n1"), tmp_path / "second.db")
    first.sync()
    second.sync()
    signed = first.capture_signature(job, b"first signature", "Mr A")
    again = first.record(
        "job.capture_signature.v1",
        {
            "job_id": job,
            "epoch": 1,
            "sha256": signed,
            "signer_name": "Mr A",
            "captured_at": "2026-11-23T10:00:00Z",
        },
    )
    other = second.capture_signature(job, b"another signature", "Mr B")
    first.sync()
    second.sync()
    assert first.results()[again]["result"] == "duplicate"
    [refused] = [r for r in second.results().values() if r["code"] == "already_signed"]
    assert refused["result"] == "rejected"
    assert report(client, auth("disp_north"), world.jobs["north_assigned"])["signature"]["sha256"] == signed
    assert other != signed
    [flagged] = exceptions(client, auth("disp_north"))
    assert (flagged["code"], flagged["technician_name"]) == ("second_signature", "tech_n1")


def test_a_device_clock_far_off_is_flagged_once_and_its_times_kept(
    client: TestClient[Any], world: World, auth: Any, tmp_path: Path
) -> None:
    job = str(world.jobs["north_assigned"])
    device = phone(client, auth("tech_n1"), tmp_path / "phone.db", clock=Clock(dt.timedelta(hours=-3)))
    device.sync()
    for _ in range(3):
        device.stop_time(device.start_time(job))
    device.sync()
    [flagged] = exceptions(client, auth("disp_north"))
    assert flagged["code"] == "clock_skew"
    assert flagged["occurrences"] == 6  # every start and stop, on one line
    entries = report(client, auth("disp_north"), world.jobs["north_assigned"])["time_entries"]
    assert len(entries) == 3
    assert all(abs(e["clock_offset_s"] - 3 * 3600) < 60 for e in entries)
