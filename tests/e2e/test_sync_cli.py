"""The issue's story end to end, against a real server on the demo data, through the reference client's command
line: a technician syncs the day, goes offline, records a whole job, comes back, and the office sees all of it once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from domain.demo import DEMO_PASSWORD

DEAD_SERVER = "http://127.0.0.1:9"  # nothing listens there: the phone is offline


def phone(store: Path, server: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sync.cli", "--server", server, "--store", str(store), *args],
        env={**os.environ, "FIELDWORK_PASSWORD": DEMO_PASSWORD},
        capture_output=True,
        text=True,
        timeout=60,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_job_recorded_offline_reaches_the_office_exactly_once(server: str, tmp_path: Path) -> None:
    store = tmp_path / "phone.db"
    ok(phone(store, server, "login", "tech01@example.com"))
    assert "0 pending" in ok(phone(store, server, "sync"))
    listing = ok(phone(store, server, "jobs")).splitlines()
    dispatched = [line.split()[0] for line in listing if " dispatched " in line]
    assert dispatched, listing
    job = dispatched[0]

    office = httpx.Client(base_url=server, timeout=30)
    token = office.post(
        "/api/auth/token", json={"username": "dispatcher@example.com", "password": DEMO_PASSWORD}
    )
    office.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    # The job completes only with its whole checklist answered.
    checklist = office.get(f"/api/jobs/{job}").json()["checklist"]
    assert checklist

    (tmp_path / "before.jpg").write_bytes(b"\xff\xd8\xff photo of the leak")
    (tmp_path / "signature.png").write_bytes(b"\x89PNG the customer's signature")
    for step in (
        ["status", job, "en_route"],
        ["status", job, "on_site"],
        ["clock-in", job],
        ["status", job, "in_progress"],
        ["fields", job, *[f"{item}=true" for item in checklist], "outcome=fixed"],
        ["note", job, "Replaced the trap under the sink"],
        ["part", job, "PTFE tape", "1"],
        ["photo", job, str(tmp_path / "before.jpg")],
        ["clock-out"],
        ["sign", job, str(tmp_path / "signature.png"), "Mrs Martin"],
        ["status", job, "completed"],
    ):
        ok(phone(store, DEAD_SERVER, *step))
    offline = phone(store, DEAD_SERVER, "sync")
    assert offline.returncode == 3, offline.stderr  # offline: nothing lost, nothing sent
    assert len(ok(phone(store, server, "pending")).splitlines()) == 11
    assert f"{job}  completed" in ok(phone(store, server, "jobs"))  # shown at once, before any sync

    assert "0 pending, 0 refused" in ok(phone(store, server, "sync"))
    ok(phone(store, server, "sync"))  # again: nothing doubles
    ok(phone(store, server, "check"))

    report = office.get(f"/api/jobs/{job}/field-report").json()
    assert report["status"] == "completed"
    assert [n["body"] for n in report["notes"]] == ["Replaced the trap under the sink"]
    assert {f["name"]: f["value"] for f in report["fields"]} == {
        **dict.fromkeys(checklist, True),
        "outcome": "fixed",
    }
    assert [(p["part"], p["quantity"]) for p in report["parts"]] == [("PTFE tape", 1.0)]
    assert len(report["time_entries"]) == 1
    assert report["time_entries"][0]["ended_at"] is not None
    assert len(report["photos"]) == 1
    assert report["signature"]["signer_name"] == "Mrs Martin"
    events = [e["to_status"] for e in office.get(f"/api/jobs/{job}/status-events").json()]
    assert events[-4:] == ["en_route", "on_site", "in_progress", "completed"]
    assert events.count("completed") == 1
    photo = office.get(f"/api/sync/v1/attachments/{report['photos'][0]['sha256']}")
    assert photo.content == b"\xff\xd8\xff photo of the leak"
    signature = office.get(f"/api/sync/v1/attachments/{report['signature']['sha256']}")
    assert signature.content == b"\x89PNG the customer's signature"
    assert office.get("/api/sync-exceptions").json()["items"] == []
