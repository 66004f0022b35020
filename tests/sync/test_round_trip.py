"""A technician's day through the reference client: bootstrap, work offline, come back, and the office sees it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from tests.conftest import World
from tests.sync.devices import phone


def test_bootstrap_holds_the_technicians_job_with_its_customer_and_nothing_else(
    client: TestClient[Any], world: World, auth: Any, tmp_path: Path
) -> None:
    device = phone(client, auth("tech_n1"), tmp_path / "phone.db")
    device.sync()
    jobs = device.rows("jobs")
    assert set(jobs) == {str(world.jobs["north_assigned"])}
    job = jobs[str(world.jobs["north_assigned"])]
    assert job["customer"]["name"] == "Customer north"
    assert job["site"]["address"].startswith("1 Rue North")
    assert len(device.rows("job_time_windows")) == 1
    assert {s["code"] for s in device.rows("skills").values()} == {"plumbing", "electrical", "gas"}
    assert device.digest() == device.server_digest()


def test_offline_work_arrives_exactly_once(
    client: TestClient[Any], world: World, auth: Any, tmp_path: Path
) -> None:
    device = phone(client, auth("tech_n1"), tmp_path / "phone.db")
    device.sync()
    job = str(world.jobs["north_assigned"])
    device.transition(job, "en_route")
    device.transition(job, "on_site")
    note = device.add_note(job, "Leak under the sink")
    device.set_fields(job, {"Water isolated": True, "outcome": "fixed"})
    line = device.add_part_line(job, "PTFE tape", 2)
    entry = device.start_time(job)
    device.transition(job, "in_progress")
    device.stop_time(entry)
    device.add_photo(job, b"\xff\xd8 photo bytes", "before")
    signature = device.capture_signature(job, b"\x89PNG signature", "Mrs Customer")
    device.transition(job, "completed")
    assert device.view("jobs")[job]["status"] == "completed"
    device.push()
    device.push()  # again: nothing new is sent
    device.pull()
    device.drop_acknowledged()
    assert device.pending() == []
    assert {r["result"] for r in device.results().values()} == {"applied"}
    assert device.rows("jobs")[job]["status"] == "completed"
    assert [n["body"] for n in device.rows("job_notes").values()] == ["Leak under the sink"]
    assert note in device.rows("job_notes")
    assert device.rows("job_part_lines")[line]["quantity"] == 2
    assert len(device.rows("job_signatures")) == 1
    assert device.digest() == device.server_digest()

    office = client.get(f"/api/jobs/{job}/status-events", headers=auth("disp_north"))
    assert office.status_code == 200, office.text
    moves = [e["to_status"] for e in office.json()]
    assert moves[-4:] == ["en_route", "on_site", "in_progress", "completed"]

    report = client.get(f"/api/jobs/{job}/field-report", headers=auth("disp_north")).json()
    assert [n["body"] for n in report["notes"]] == ["Leak under the sink"]
    assert {f["name"]: f["value"] for f in report["fields"]} == {"Water isolated": True, "outcome": "fixed"}
    assert [(p["part"], p["quantity"]) for p in report["parts"]] == [("PTFE tape", 2)]
    assert len(report["time_entries"]) == 1
    assert report["time_entries"][0]["ended_at"] is not None
    assert [p["caption"] for p in report["photos"]] == ["before"]
    assert report["signature"]["signer_name"] == "Mrs Customer"

    assert device.upload() == 2
    image = client.get(f"/api/sync/v1/attachments/{signature}", headers=auth("disp_north"))
    assert image.status_code == 200
    assert image.content == b"\x89PNG signature"
    assert client.get(f"/api/sync/v1/attachments/{signature}", headers=auth("disp_south")).status_code == 404


def test_a_line_added_and_removed_offline_arrives_removed(
    client: TestClient[Any], world: World, auth: Any, tmp_path: Path
) -> None:
    """Found by the long property run: both in one push, the removal met a row not yet written."""
    job = str(world.jobs["north_assigned"])
    device = phone(client, auth("tech_n1"), tmp_path / "phone.db")
    device.sync()
    line = device.add_part_line(job, "washer", 1)
    device.set_part_qty(line, 3)
    device.remove_part_line(line)
    again = device.add_part_line(job, "valve", 1)
    device.sync()
    assert {r["result"] for r in device.results().values()} == {"applied"}
    assert set(device.rows("job_part_lines")) == {again}
    assert device.digest() == device.server_digest()
