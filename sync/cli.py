"""The reference client from the command line, against a running server: a phone in a terminal.

python -m sync.cli --store phone.db login tech01@example.com
python -m sync.cli --store phone.db sync
python -m sync.cli --store phone.db jobs
python -m sync.cli --store phone.db status JOB en_route
python -m sync.cli --store phone.db note JOB "text"
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from sync.client import HttpTransport, SyncClient, SyncFailed, Unavailable

DEFAULT_SERVER = "http://127.0.0.1:8000"


def _saved(store: Path, key: str) -> str | None:
    if not store.exists():
        return None
    with sqlite3.connect(store) as db:
        db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def _save(store: Path, key: str, value: str) -> None:
    with sqlite3.connect(store) as db:
        db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def _login(http: httpx.Client, store: Path, email: str) -> int:
    password = os.environ.get("FIELDWORK_PASSWORD") or getpass.getpass(f"password for {email}: ")
    answer = http.post("/api/auth/token", json={"username": email, "password": password})
    if answer.status_code != 200:
        print(f"login refused: {answer.json().get('detail', answer.text)}", file=sys.stderr)
        return 1
    _save(store, "token", answer.json()["access_token"])
    print(f"signed in as {email}; the token is kept in {store}")
    return 0


def _print_jobs(device: SyncClient) -> None:
    jobs = device.view("jobs")
    assignments = {a["job_id"]: a for a in device.rows("assignments").values()}
    for job_id, job in sorted(
        jobs.items(), key=lambda j: str(assignments.get(j[0], {}).get("planned_start"))
    ):
        planned = assignments.get(job_id, {}).get("planned_start") or "-"
        customer = job.get("customer", {})
        print(
            f"{job_id}  {job['status']:<11} {planned:<25} {customer.get('name')} ({customer.get('phone') or '-'})"
        )
        print(f"    {job.get('site', {}).get('address')}: {job['description'][:70]}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sync.cli", description=__doc__.split("\n")[0])
    parser.add_argument("--server", default=os.environ.get("FIELDWORK_SERVER", DEFAULT_SERVER))
    parser.add_argument("--store", type=Path, default=Path("phone.db"), help="the phone's local file")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("login", help="sign in as a technician").add_argument("email")
    sub.add_parser("sync", help="push pending work, pull changes, upload attachments")
    sub.add_parser("jobs", help="the jobs on this phone, with pending changes shown")
    sub.add_parser("pending", help="mutations waiting for the next sync")
    sub.add_parser("results", help="what the server said about each mutation")
    sub.add_parser("check", help="compare this phone's copy with the server's digest")
    status = sub.add_parser("status", help="move a job along")
    status.add_argument("job")
    status.add_argument("to")
    status.add_argument("--reason")
    note = sub.add_parser("note", help="write a note on a job")
    note.add_argument("job")
    note.add_argument("text")
    part = sub.add_parser("part", help="record a part used")
    part.add_argument("job")
    part.add_argument("part")
    part.add_argument("quantity", type=float)
    fields = sub.add_parser("fields", help="answer checklist items: name=value ...")
    fields.add_argument("job")
    fields.add_argument("pairs", nargs="+")
    photo = sub.add_parser("photo", help="attach a photo file")
    photo.add_argument("job")
    photo.add_argument("path", type=Path)
    sign = sub.add_parser("sign", help="capture the customer's signature from an image file")
    sign.add_argument("job")
    sign.add_argument("path", type=Path)
    sign.add_argument("signer")
    complete = sub.add_parser("complete", help="complete a job: fixed, or follow_up with a reason")
    complete.add_argument("job")
    complete.add_argument("outcome", choices=["fixed", "follow_up"], nargs="?", default="fixed")
    complete.add_argument("--summary")
    complete.add_argument("--reason", help="why a follow-up visit is needed")
    complete.add_argument(
        "--remote-sign-off", action="store_true", help="the customer is not here: send them a sign-off link"
    )
    clock_in = sub.add_parser("clock-in", help="start timing work on a job")
    clock_in.add_argument("job")
    sub.add_parser("clock-out", help="stop every running time entry").set_defaults()
    args = parser.parse_args(argv)

    with httpx.Client(base_url=args.server, timeout=30) as http:
        if args.command == "login":
            return _login(http, args.store, args.email)
        token = _saved(args.store, "token")
        if token is None:
            print("sign in first: python -m sync.cli login EMAIL", file=sys.stderr)
            return 1
        device = SyncClient(args.store, HttpTransport(http, token))
        try:
            return _run(device, args)
        except Unavailable as exc:
            print(f"offline ({exc}); your work is kept and goes with the next sync", file=sys.stderr)
            return 3
        except SyncFailed as exc:
            print(f"the server refused: {exc}", file=sys.stderr)
            return 1
        finally:
            device.close()


def _run(device: SyncClient, args: argparse.Namespace) -> int:
    match args.command:
        case "sync":
            device.sync()
            refused = [r for r in device.results().values() if r["result"] == "rejected"]
            print(
                f"synced: {len(device.rows('jobs'))} jobs, {len(device.pending())} pending, {len(refused)} refused"
            )
        case "jobs":
            _print_jobs(device)
        case "pending":
            for item in device.pending():
                print(json.dumps(item))
        case "results":
            for mutation_id, result in sorted(device.results().items()):
                print(mutation_id, json.dumps(result))
        case "check":
            same = device.digest() == device.server_digest()
            print("in step with the server" if same else "drift: pull again from scratch")
            return 0 if same else 1
        case "status":
            device.transition(args.job, args.to, args.reason)
        case "note":
            device.add_note(args.job, args.text)
        case "part":
            device.add_part_line(args.job, args.part, args.quantity)
        case "fields":
            values: dict[str, Any] = {}
            for pair in args.pairs:
                name, _, value = pair.partition("=")
                values[name] = json.loads(value) if value in {"true", "false", "null"} else value
            device.set_fields(args.job, values)
        case "photo":
            device.add_photo(args.job, args.path.read_bytes(), args.path.name)
        case "sign":
            device.capture_signature(args.job, args.path.read_bytes(), args.signer)
        case "complete":
            device.complete(
                args.job,
                args.outcome,
                summary=args.summary,
                follow_up_reason=args.reason,
                remote_sign_off=args.remote_sign_off,
            )
        case "clock-in":
            print(device.start_time(args.job))
        case "clock-out":
            for entry_id, entry in device.view("time_entries").items():
                if entry.get("ended_at") is None:
                    device.stop_time(entry_id)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
