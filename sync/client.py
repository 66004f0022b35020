"""The reference client of sync protocol v1: what a phone app does, in plain Python over a local SQLite file.

    push pending mutations in id order -> pull pages until has_more is false, applying each page and its cursor in
    one local transaction -> drop pending mutations the server acknowledged -> show the rest on top (rebase).

Attachments upload on their own queue; a mutation may name a hash whose upload is still pending. Every step keeps
its state in the local file, so a client killed anywhere starts again from the file and loses nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from sync.protocol import MAX_BATCH, MAX_PUSH_BYTES

SCHEMA_VERSION = 1
APP_VERSION = "reference-client/1"
CHUNK = 256 * 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rows (
    tbl TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (tbl, id)
);
CREATE TABLE IF NOT EXISTS pending (
    id INTEGER PRIMARY KEY, uuid TEXT NOT NULL, name TEXT NOT NULL, args TEXT NOT NULL,
    client_ts TEXT NOT NULL, base_version INTEGER
);
CREATE TABLE IF NOT EXISTS results (id INTEGER PRIMARY KEY, result TEXT NOT NULL, code TEXT, detail TEXT);
CREATE TABLE IF NOT EXISTS uploads (
    sha256 TEXT PRIMARY KEY, kind TEXT NOT NULL, content_type TEXT NOT NULL, content BLOB NOT NULL,
    done INTEGER NOT NULL DEFAULT 0
);
"""


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: Any
    headers: dict[str, str]
    size: int = 0


class Transport(Protocol):
    def __call__(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply: ...


class SyncFailed(Exception):
    """The server refused a sync request in a way the client cannot fix by retrying."""

    def __init__(self, reply: Reply) -> None:
        detail = reply.body.get("detail") if isinstance(reply.body, dict) else reply.body
        super().__init__(f"{reply.status}: {detail}")
        self.reply = reply


class Unavailable(Exception):
    """No answer, or a transient one (5xx, 429): nothing is lost, try again later."""


class HttpTransport:
    """Talks to a server through any httpx-style client (httpx.Client, Litestar's TestClient)."""

    def __init__(self, client: Any, token: str, prefix: str = "/api/sync/v1") -> None:
        self.client, self.prefix = client, prefix
        self.auth = {"Authorization": f"Bearer {token}"}

    def __call__(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        try:
            response = self.client.request(
                method,
                self.prefix + path,
                json=json_body,
                content=content,
                headers={**self.auth, **(headers or {})},
            )
        except (OSError, httpx.TransportError) as exc:
            raise Unavailable(str(exc)) from exc
        kind = response.headers.get("content-type", "")
        body = response.json() if "json" in kind and response.content else response.content
        return Reply(response.status_code, body, dict(response.headers), len(response.content))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class SyncClient:
    """One device: its local copy, its pending mutations and its upload queue, in one SQLite file."""

    def __init__(
        self,
        store: Path | str,
        transport: Transport,
        *,
        clock: Callable[[], dt.datetime] = _now,
        page_limit: int = 500,
        crash_at: Callable[[str], None] | None = None,
    ) -> None:
        self.db = sqlite3.connect(str(store), isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(_SCHEMA)
        self.transport, self.clock, self.page_limit = transport, clock, page_limit
        # Tests name the points at which the app is killed; a kill is an exception that abandons this object.
        self.crash_at = crash_at or (lambda _point: None)
        if self._meta("device_id") is None:
            self._set_meta("device_id", str(uuid.uuid4()))

    def close(self) -> None:
        self.db.close()

    # Local state ------------------------------------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str | None) -> None:
        if value is None:
            self.db.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    @property
    def device_id(self) -> str:
        found = self._meta("device_id")
        assert found is not None
        return found

    @property
    def cursor(self) -> str | None:
        return self._meta("cursor")

    @property
    def last_acknowledged(self) -> int:
        return int(self._meta("last_mutation_id") or 0)

    def rows(self, table: str) -> dict[str, dict[str, Any]]:
        """The server's rows of one table as this device last saw them."""
        return {
            row_id: json.loads(data)
            for row_id, data in self.db.execute("SELECT id, data FROM rows WHERE tbl = ?", (table,))
        }

    def versions(self, table: str) -> dict[str, int]:
        return dict(self.db.execute("SELECT id, version FROM rows WHERE tbl = ?", (table,)).fetchall())

    def pending(self) -> list[dict[str, Any]]:
        return [
            {"id": i, "uuid": u, "name": n, "args": json.loads(a), "client_ts": ts, "base_version": b}
            for i, u, n, a, ts, b in self.db.execute(
                "SELECT id, uuid, name, args, client_ts, base_version FROM pending ORDER BY id"
            )
        ]

    def results(self) -> dict[int, dict[str, Any]]:
        """What the server said about each mutation it answered (kept so the app can show refusals)."""
        return {
            i: {"result": r, "code": c, "detail": d}
            for i, r, c, d in self.db.execute("SELECT id, result, code, detail FROM results")
        }

    # Recording work offline ------------------------------------------------------------------------------------

    def record(self, name: str, args: dict[str, Any], *, base_version: int | None = None) -> int:
        """Queue a mutation; it is the device's next id, never reused."""
        with self._transaction():
            next_id = int(self._meta("next_mutation_id") or 1)
            self.db.execute(
                "INSERT INTO pending (id, uuid, name, args, client_ts, base_version) VALUES (?, ?, ?, ?, ?, ?)",
                (next_id, str(uuid.uuid4()), name, json.dumps(args), self.clock().isoformat(), base_version),
            )
            self._set_meta("next_mutation_id", str(next_id + 1))
        return next_id

    def epoch(self, job_id: str) -> int:
        for assignment in self.rows("assignments").values():
            if assignment["job_id"] == job_id:
                return int(assignment["epoch"])
        return 1

    def transition(self, job_id: str, to: str, reason: str | None = None) -> int:
        args: dict[str, Any] = {"job_id": job_id, "to": to, "epoch": self.epoch(job_id)}
        if reason:
            args["reason"] = reason
        return self.record("job.transition_status.v1", args)

    def complete(
        self,
        job_id: str,
        outcome: str = "fixed",
        *,
        summary: str | None = None,
        follow_up_reason: str | None = None,
        remote_sign_off: bool = False,
    ) -> int:
        """Complete the job with its outcome; the server checks the checklist and the signature when it applies it."""
        args: dict[str, Any] = {
            "job_id": job_id,
            "epoch": self.epoch(job_id),
            "outcome": outcome,
            "completed_at": _now().isoformat(),
            "remote_sign_off": remote_sign_off,
        }
        if summary:
            args["summary"] = summary
        if follow_up_reason:
            args["follow_up_reason"] = follow_up_reason
        return self.record("job.complete.v1", args)

    def add_note(self, job_id: str, body: str) -> str:
        note_id = str(uuid.uuid4())
        self.record(
            "job.add_note.v1",
            {
                "job_id": job_id,
                "note_id": note_id,
                "body": body,
                "epoch": self.epoch(job_id),
                "written_at": self.clock().isoformat(),
            },
        )
        return note_id

    def set_fields(self, job_id: str, fields: dict[str, Any]) -> int:
        held = {r["name"]: rid for rid, r in self.rows("job_field_values").items() if r["job_id"] == job_id}
        versions = self.versions("job_field_values")
        base = max((versions[held[name]] for name in fields if name in held), default=0)
        return self.record(
            "job.set_fields.v1",
            {"job_id": job_id, "fields": fields, "epoch": self.epoch(job_id)},
            base_version=base,
        )

    def add_part_line(self, job_id: str, part: str, quantity: float) -> str:
        line_id = str(uuid.uuid4())
        self.record(
            "job.add_part_line.v1",
            {
                "job_id": job_id,
                "line_id": line_id,
                "part": part,
                "quantity": quantity,
                "epoch": self.epoch(job_id),
            },
        )
        return line_id

    def remove_part_line(self, line_id: str) -> int:
        return self.record("job.remove_part_line.v1", {"line_id": line_id})

    def set_part_qty(self, line_id: str, quantity: float) -> int:
        return self.record("job.set_part_qty.v1", {"line_id": line_id, "quantity": quantity})

    def start_time(self, job_id: str) -> str:
        entry_id = str(uuid.uuid4())
        self.record(
            "time.start.v1",
            {
                "job_id": job_id,
                "entry_id": entry_id,
                "started_at": self.clock().isoformat(),
                "epoch": self.epoch(job_id),
            },
        )
        return entry_id

    def stop_time(self, entry_id: str) -> int:
        return self.record("time.stop.v1", {"entry_id": entry_id, "ended_at": self.clock().isoformat()})

    def _attach(self, content: bytes, kind: str, content_type: str) -> str:
        digest = hashlib.sha256(content).hexdigest()
        self.db.execute(
            "INSERT OR IGNORE INTO uploads (sha256, kind, content_type, content) VALUES (?, ?, ?, ?)",
            (digest, kind, content_type, content),
        )
        return digest

    def add_photo(self, job_id: str, content: bytes, caption: str | None = None) -> str:
        digest = self._attach(content, "photo", "image/jpeg")
        photo_id = str(uuid.uuid4())
        args: dict[str, Any] = {
            "job_id": job_id,
            "photo_id": photo_id,
            "sha256": digest,
            "epoch": self.epoch(job_id),
            "taken_at": self.clock().isoformat(),
        }
        if caption:
            args["caption"] = caption
        self.record("job.add_photo.v1", args)
        return photo_id

    def capture_signature(self, job_id: str, image: bytes, signer_name: str) -> str:
        digest = self._attach(image, "signature", "image/png")
        self.record(
            "job.capture_signature.v1",
            {
                "job_id": job_id,
                "sha256": digest,
                "signer_name": signer_name,
                "captured_at": self.clock().isoformat(),
                "epoch": self.epoch(job_id),
            },
        )
        return digest

    # Talking to the server -------------------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> Reply:
        reply = self.transport(method, path, **kwargs)
        if reply.status >= 500 or reply.status == 429:
            raise Unavailable(f"{reply.status} on {path}")
        return reply

    def register(self) -> None:
        if self._meta("registered") == "1":
            return
        reply = self._call(
            "POST",
            "/devices",
            json_body={
                "device_id": self.device_id,
                "app_version": APP_VERSION,
                "schema_version": SCHEMA_VERSION,
            },
        )
        if reply.status not in (200, 201):
            raise SyncFailed(reply)
        self._set_meta("registered", "1")

    def push(self) -> int:
        """Send the pending mutations, a batch at a time; how many the server answered."""
        answered = 0
        while True:
            batch = _batch(
                [m for m in self.pending() if m["id"] > max(self.last_acknowledged, self._pushed())]
            )
            if not batch:
                return answered
            body: dict[str, Any] = {
                "device_id": self.device_id,
                "schema_version": SCHEMA_VERSION,
                "mutations": [
                    {k: v for k, v in m.items() if v is not None or k not in ("base_version",)} for m in batch
                ],
            }
            offset = self._meta("clock_offset_s")
            if offset is not None:
                body["clock_offset_s"] = float(offset)
            self.crash_at("before_push")
            reply = self._call("POST", "/push", json_body=body)
            self.crash_at("after_push_response")
            if reply.status == 404:
                # The server does not know this device (its database was restored from before we registered).
                self._set_meta("registered", None)
                self.register()
                continue
            if reply.status == 409 and isinstance(reply.body, dict) and "expected_id" in reply.body:
                expected = int(reply.body["expected_id"])
                if any(m["id"] == expected for m in self.pending()):
                    # The server is behind what we pushed (restored from a backup): send again from there.
                    with self._transaction():
                        self._set_meta("pushed", str(expected - 1))
                        self._set_meta("last_mutation_id", str(expected - 1))
                    continue
                # The mutations the server misses are gone from this device too: a person must look.
                raise SyncFailed(reply)
            if reply.status != 200:
                raise SyncFailed(reply)
            with self._transaction():
                for result in reply.body["results"]:
                    self.db.execute(
                        "INSERT OR REPLACE INTO results (id, result, code, detail) VALUES (?, ?, ?, ?)",
                        (result["id"], result["result"], result.get("code"), result.get("detail")),
                    )
                self._set_meta("pushed", str(reply.body["last_mutation_id"]))
            answered += len(reply.body["results"])

    def _pushed(self) -> int:
        return int(self._meta("pushed") or 0)

    def pull(self) -> int:
        """Pull pages until the server has nothing more; how many changes were applied."""
        applied = 0
        while True:
            self.crash_at("before_pull")
            reply = self._call(
                "POST",
                "/pull",
                json_body={
                    "device_id": self.device_id,
                    "schema_version": SCHEMA_VERSION,
                    "cursor": self.cursor,
                    "limit": self.page_limit,
                },
            )
            if reply.status != 200:
                raise SyncFailed(reply)
            page = reply.body
            self.crash_at("after_page_received")
            with self._transaction():
                if page["reset_required"]:
                    # Too old to catch up: fetch the whole scope again, keeping every pending mutation.
                    self.db.execute("DELETE FROM rows")
                    self._set_meta("cursor", None)
                    continue
                for change in page["changes"]:
                    applied += self._apply(change)
                self._set_meta("cursor", page["cursor"])
                self._set_meta("last_mutation_id", str(page["last_mutation_id"]))
                if page["last_mutation_id"] < self._pushed():
                    # The server lost mutations it had acknowledged (restored from a backup): push them again.
                    self._set_meta("pushed", str(page["last_mutation_id"]))
                server_time = dt.datetime.fromisoformat(page["server_time"])
                self._set_meta("clock_offset_s", str((server_time - self.clock()).total_seconds()))
            self.crash_at("after_page_applied")
            if not page["has_more"]:
                return applied

    def _apply(self, change: dict[str, Any]) -> int:
        table, row_id, version = change["table"], str(change["id"]), int(change["version"])
        held = self.db.execute(
            "SELECT version FROM rows WHERE tbl = ? AND id = ?", (table, row_id)
        ).fetchone()
        if change["op"] == "remove":
            self.db.execute("DELETE FROM rows WHERE tbl = ? AND id = ?", (table, row_id))
            if table == "jobs":
                # Everything of a job that left the scope goes with it, including rows deleted meanwhile whose
                # tombstones this device will never be sent.
                self.db.execute("DELETE FROM rows WHERE json_extract(data, '$.job_id') = ?", (row_id,))
            return 1
        if held is not None and int(held[0]) > version:
            return 0  # we hold something newer: a repeated page is harmless
        if change["op"] == "delete":
            self.db.execute("DELETE FROM rows WHERE tbl = ? AND id = ?", (table, row_id))
        else:
            self.db.execute(
                "INSERT OR REPLACE INTO rows (tbl, id, version, data) VALUES (?, ?, ?, ?)",
                (table, row_id, version, json.dumps(change["data"])),
            )
        return 1

    def drop_acknowledged(self) -> None:
        self.crash_at("before_drop")
        self.db.execute("DELETE FROM pending WHERE id <= ?", (self.last_acknowledged,))

    def upload(self) -> int:
        """Send the queued attachments, resuming each where the server says it stands; how many completed."""
        done = 0
        for digest, kind, content_type, content in self.db.execute(
            "SELECT sha256, kind, content_type, content FROM uploads WHERE done = 0"
        ).fetchall():
            reply = self._call(
                "POST",
                "/attachments",
                json_body={
                    "sha256": digest,
                    "kind": kind,
                    "content_type": content_type,
                    "size": len(content),
                },
            )
            if reply.status not in (200, 201):
                continue  # refused (another device's upload, a limit): keep it queued, send the others
            received = int(reply.body["received"])
            while not reply.body["complete"]:
                chunk = content[received : received + CHUNK]
                reply = self._call(
                    "PATCH",
                    f"/attachments/{digest}",
                    content=chunk,
                    headers={
                        "Upload-Offset": str(received),
                        "Content-Type": "application/offset+octet-stream",
                    },
                )
                if reply.status == 409 and isinstance(reply.body, dict) and "received" in reply.body:
                    received = int(reply.body["received"])  # the server has another offset: resume from it
                    continue
                if reply.status != 200:
                    break  # refused or corrupt (422 starts it again at 0): it stays queued for the next round
                received = int(reply.body["received"])
            if isinstance(reply.body, dict) and reply.body.get("complete"):
                self.db.execute("UPDATE uploads SET done = 1 WHERE sha256 = ?", (digest,))
                done += 1
        return done

    def sync(self) -> None:
        """One full round: register, push, pull, drop what the server acknowledged, upload attachments."""
        self.register()
        self.push()
        self.pull()
        if any(m["id"] > self._pushed() for m in self.pending()):
            # Work recorded while we pulled, or work the server lost: one more round takes it.
            self.push()
            self.pull()
        self.drop_acknowledged()
        self.upload()

    def digest(self) -> dict[str, dict[str, Any]]:
        """The local copy's digest, computed as the server computes its own (see sync.pull.table_hash)."""
        found: dict[str, dict[str, Any]] = {}
        tables = [t for (t,) in self.db.execute("SELECT DISTINCT tbl FROM rows")]
        for table in tables:
            pairs = sorted(self.db.execute("SELECT id, version FROM rows WHERE tbl = ?", (table,)).fetchall())
            digest = hashlib.sha256()
            for row_id, version in pairs:
                digest.update(f"{row_id}:{version}\n".encode())
            found[table] = {"count": len(pairs), "hash": digest.hexdigest()}
        return found

    def server_digest(self) -> dict[str, dict[str, Any]]:
        reply = self._call("GET", f"/digest?device_id={self.device_id}")
        if reply.status != 200:
            raise SyncFailed(reply)
        return {t: d for t, d in reply.body["tables"].items() if d["count"]}

    # What the app shows: the server's copy with the pending mutations on top ---------------------------------------

    def view(self, table: str) -> dict[str, dict[str, Any]]:
        shown = self.rows(table)
        for mutation in self.pending():
            _rebase(table, shown, mutation)
        return shown


def _batch(pending: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The next push: at most 500 mutations and half the server's body limit, and always at least one."""
    batch: list[dict[str, Any]] = []
    size = 0
    for mutation in pending[:MAX_BATCH]:
        size += len(json.dumps(mutation))
        if batch and size > MAX_PUSH_BYTES // 2:
            break
        batch.append(mutation)
    return batch


def _rebase(table: str, shown: dict[str, dict[str, Any]], mutation: dict[str, Any]) -> None:
    """Show one pending mutation's effect on a table, as the server would apply it if nothing got in the way."""
    name, args = mutation["name"], mutation["args"]
    if table == "jobs" and name == "job.transition_status.v1" and args["job_id"] in shown:
        shown[args["job_id"]] = {**shown[args["job_id"]], "status": args["to"]}
    elif table == "jobs" and name == "job.complete.v1" and args["job_id"] in shown:
        shown[args["job_id"]] = {**shown[args["job_id"]], "status": "completed"}
    elif table == "job_notes" and name == "job.add_note.v1":
        shown[args["note_id"]] = {"id": args["note_id"], "job_id": args["job_id"], "body": args["body"]}
    elif table == "job_photos" and name == "job.add_photo.v1":
        shown[args["photo_id"]] = {"id": args["photo_id"], "job_id": args["job_id"], "sha256": args["sha256"]}
    elif table == "job_part_lines":
        if name == "job.add_part_line.v1":
            shown[args["line_id"]] = {
                "id": args["line_id"],
                "job_id": args["job_id"],
                "part": args["part"],
                "quantity": args["quantity"],
            }
        elif name == "job.remove_part_line.v1":
            shown.pop(args["line_id"], None)
        elif name == "job.set_part_qty.v1" and args["line_id"] in shown:
            shown[args["line_id"]] = {**shown[args["line_id"]], "quantity": args["quantity"]}
    elif table == "time_entries":
        if name == "time.start.v1":
            shown[args["entry_id"]] = {
                "id": args["entry_id"],
                "job_id": args["job_id"],
                "started_at": args["started_at"],
                "ended_at": None,
            }
        elif name == "time.stop.v1" and args["entry_id"] in shown:
            shown[args["entry_id"]] = {**shown[args["entry_id"]], "ended_at": args["ended_at"]}
    elif (
        table == "job_signatures"
        and name == "job.capture_signature.v1"
        and not any(s["job_id"] == args["job_id"] for s in shown.values())
    ):
        shown[f"pending:{args['job_id']}"] = {"job_id": args["job_id"], "sha256": args["sha256"]}
