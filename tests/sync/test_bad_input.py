"""Bad input to every sync route gets a clear problem answer and changes nothing it should not."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.conftest import World

PROBLEM = "application/problem+json"
SYNC = "/api/sync/v1"


@pytest.fixture
def device(client: TestClient[Any], auth: Any, world: World) -> str:
    device_id = str(uuid.uuid4())
    answer = client.post(
        f"{SYNC}/devices",
        json={"device_id": device_id, "app_version": "1.0", "schema_version": 1},
        headers=auth("tech_n1"),
    )
    assert answer.status_code == 201, answer.text
    return device_id


def note(job_id: Any, mutation_id: int, body: str = "hello", **extra: Any) -> dict[str, Any]:
    return {
        "id": mutation_id,
        "uuid": str(uuid.uuid4()),
        "name": "job.add_note.v1",
        "args": {"job_id": str(job_id), "note_id": str(uuid.uuid4()), "body": body, "epoch": 1},
        **extra,
    }


def push(client: TestClient[Any], headers: dict[str, str], device_id: str, mutations: list[Any]) -> Any:
    return client.post(
        f"{SYNC}/push",
        json={"device_id": device_id, "schema_version": 1, "mutations": mutations},
        headers=headers,
    )


def refused(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    body = dict(answer.json())
    assert body["detail"]
    return body


def test_registration_refuses_unknown_fields_other_schemas_and_someone_elses_device(
    client: TestClient[Any], auth: Any, device: str, snapshot: Any
) -> None:
    before = snapshot()
    body = {"device_id": device, "app_version": "1.0", "schema_version": 1}
    refused(
        client.post(
            f"{SYNC}/devices", json={**body, "technician_id": str(uuid.uuid4())}, headers=auth("tech_n1")
        ),
        400,
    )
    refused(client.post(f"{SYNC}/devices", json={**body, "schema_version": 9}, headers=auth("tech_n1")), 422)
    refused(client.post(f"{SYNC}/devices", json=body, headers=auth("tech_n2")), 409)
    refused(client.post(f"{SYNC}/devices", json=body, headers=auth("disp_north")), 403)
    refused(client.post(f"{SYNC}/devices", json=body), 401)
    assert snapshot() == before
    again = client.post(f"{SYNC}/devices", json=body, headers=auth("tech_n1"))
    assert again.status_code == 200
    assert again.json()["last_mutation_id"] == 0


def test_a_push_from_a_wrong_device_applies_nothing(
    client: TestClient[Any], auth: Any, world: World, device: str, snapshot: Any
) -> None:
    before = snapshot()
    job = world.jobs["north_assigned"]
    refused(push(client, auth("tech_n1"), str(uuid.uuid4()), [note(job, 1)]), 404)
    refused(push(client, auth("tech_n2"), device, [note(job, 1)]), 404)  # someone else's device
    assert snapshot() == before


def test_gaps_oversized_and_disordered_batches_apply_nothing(
    client: TestClient[Any], auth: Any, world: World, device: str, snapshot: Any
) -> None:
    job = world.jobs["north_assigned"]
    before = snapshot()
    gap = refused(push(client, auth("tech_n1"), device, [note(job, 2), note(job, 3)]), 409)
    assert gap["expected_id"] == 1
    refused(push(client, auth("tech_n1"), device, [note(job, i) for i in range(1, 502)]), 413)
    refused(push(client, auth("tech_n1"), device, [note(job, 1), note(job, 3)]), 422)
    refused(push(client, auth("tech_n1"), device, [note(job, 2), note(job, 1)]), 422)
    assert snapshot() == before


@pytest.mark.parametrize(
    "broken",
    [
        {"id": 1, "name": "job.add_note.v1", "args": {}},  # no uuid
        {"id": 0, "uuid": str(uuid.uuid4()), "name": "job.add_note.v1", "args": {}},  # ids start at 1
        {"id": 1, "uuid": str(uuid.uuid4()), "name": "", "args": {}},  # no name
        {"id": 1, "uuid": str(uuid.uuid4()), "name": "job.add_note.v1", "args": [], "extra": 1},
    ],
    ids=["no_uuid", "id_zero", "no_name", "unknown_field"],
)
def test_a_malformed_envelope_is_a_400_naming_the_field(
    client: TestClient[Any], auth: Any, device: str, snapshot: Any, broken: dict[str, Any]
) -> None:
    before = snapshot()
    refused(push(client, auth("tech_n1"), device, [broken]), 400)
    assert snapshot() == before


def test_refused_mutations_are_consumed_with_a_code_and_change_nothing_else(
    client: TestClient[Any], auth: Any, world: World, device: str
) -> None:
    mine, theirs = world.jobs["north_assigned"], world.jobs["north_open"]
    mutations = [
        {"id": 1, "uuid": str(uuid.uuid4()), "name": "job.levitate.v1", "args": {}},
        note(mine, 2, body=""),  # empty body
        note(theirs, 3),  # someone else's job
        {**note(mine, 4), "args": {**note(mine, 4)["args"], "epoch": 99}},  # an epoch never issued
        {
            "id": 5,
            "uuid": str(uuid.uuid4()),
            "name": "job.transition_status.v1",
            "args": {"job_id": str(mine), "to": "cancelled", "epoch": 1, "reason": "no"},
        },
        {
            "id": 6,
            "uuid": str(uuid.uuid4()),
            "name": "job.set_fields.v1",
            "args": {"job_id": str(mine), "fields": {"technician_id": "me"}, "epoch": 1},
        },
        {
            "id": 7,
            "uuid": str(uuid.uuid4()),
            "name": "time.stop.v1",
            "args": {"entry_id": str(uuid.uuid4()), "ended_at": "2026-01-01T10:00:00Z"},
        },
        {**note(mine, 8), "client_ts": "yesterday"},
        {**note(mine, 9), "client_ts": "2026-11-23T10:00:00"},  # no offset: whose clock?
        {"id": 10, "uuid": str(uuid.uuid4()), "name": "Add Note", "args": {}},
        note(mine, 11, body="kept"),
    ]
    answer = push(client, auth("tech_n1"), device, mutations)
    assert answer.status_code == 200, answer.text
    codes = [(r["result"], r["code"]) for r in answer.json()["results"]]
    assert codes == [
        ("rejected", "unknown_mutation"),
        ("rejected", "invalid_args"),
        ("rejected", "unknown_job"),
        ("rejected", "bad_epoch"),
        ("rejected", "illegal_transition"),
        ("rejected", "forbidden_field"),
        ("rejected", "unknown_entry"),
        ("rejected", "invalid_client_ts"),
        ("rejected", "invalid_client_ts"),
        ("rejected", "unknown_mutation"),
        ("applied", None),
    ]
    assert answer.json()["last_mutation_id"] == 11
    report = client.get(f"/api/jobs/{mine}/field-report", headers=auth("disp_north")).json()
    assert [n["body"] for n in report["notes"]] == ["kept"]
    assert report["fields"] == []
    assert client.get(f"/api/jobs/{theirs}/field-report", headers=auth("disp_north")).json()["notes"] == []


def test_a_reused_mutation_id_with_other_content_is_refused(
    client: TestClient[Any], auth: Any, world: World, device: str, snapshot: Any
) -> None:
    job = world.jobs["north_assigned"]
    first = note(job, 1)
    assert push(client, auth("tech_n1"), device, [first]).status_code == 200
    replay = push(client, auth("tech_n1"), device, [first])
    assert replay.json()["results"] == [{"id": 1, "result": "duplicate", "code": "applied", "detail": None}]
    before = snapshot()
    refused(push(client, auth("tech_n1"), device, [note(job, 1, body="different")]), 409)
    assert snapshot() == before


def test_pull_and_digest_refuse_bad_cursors_limits_and_devices(
    client: TestClient[Any], auth: Any, device: str
) -> None:
    def pull(**body: Any) -> Any:
        return client.post(
            f"{SYNC}/pull", json={"device_id": device, "schema_version": 1, **body}, headers=auth("tech_n1")
        )

    refused(pull(cursor="not-a-cursor"), 422)
    refused(pull(cursor="b.1.99.-"), 422)
    refused(pull(limit=0), 400)
    refused(pull(limit=100_000), 400)
    refused(pull(device_id=str(uuid.uuid4())), 404)
    refused(
        client.get(f"{SYNC}/digest", params={"device_id": str(uuid.uuid4())}, headers=auth("tech_n1")), 404
    )
    refused(client.get(f"{SYNC}/digest", params={"device_id": "x"}, headers=auth("tech_n1")), 400)
    ahead = pull(cursor="999999")  # a cursor from another database (restored from a backup): start again
    assert ahead.status_code == 200
    assert ahead.json()["reset_required"] is True


def _declare(client: TestClient[Any], headers: dict[str, str], content: bytes, **extra: Any) -> Any:
    body = {
        "sha256": hashlib.sha256(content).hexdigest(),
        "kind": "photo",
        "content_type": "image/jpeg",
        "size": len(content),
        **extra,
    }
    return client.post(f"{SYNC}/attachments", json=body, headers=headers)


def _chunk(client: TestClient[Any], headers: dict[str, str], sha: str, offset: int, data: bytes) -> Any:
    return client.patch(
        f"{SYNC}/attachments/{sha}",
        content=data,
        headers={**headers, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"},
    )


def test_uploads_refuse_corruption_wrong_offsets_and_sizes(
    client: TestClient[Any], auth: Any, world: World
) -> None:
    me = auth("tech_n1")
    content = b"a photo" * 100
    sha = hashlib.sha256(content).hexdigest()
    assert _declare(client, me, content).status_code == 201
    assert _chunk(client, me, sha, 0, content[:300]).json()["received"] == 300
    wrong = refused(_chunk(client, me, sha, 100, content[100:]), 409)
    assert wrong["received"] == 300
    refused(_chunk(client, me, sha, 300, content[300:] + b"more"), 422)  # past the declared size
    refused(_chunk(client, auth("tech_n2"), sha, 300, content[300:]), 404)  # someone else's upload
    corrupt = b"X" * (len(content) - 300)
    refused(_chunk(client, me, sha, 300, corrupt), 422)
    assert _declare(client, me, content).json()["received"] == 0  # discarded: start again
    refused(client.get(f"{SYNC}/attachments/{sha}", headers=me), 404)  # incomplete
    assert _chunk(client, me, sha, 0, content).json()["complete"] is True
    assert client.get(f"{SYNC}/attachments/{sha}", headers=me).content == content
    refused(client.get(f"{SYNC}/attachments/{sha}", headers=auth("tech_n2")), 404)  # not in their scope


def test_declarations_refuse_oversize_wrong_types_and_conflicting_sizes(
    client: TestClient[Any], auth: Any
) -> None:
    me = auth("tech_n1")
    refused(_declare(client, me, b"sig", kind="signature", size=3 * 1024 * 1024), 422)
    refused(_declare(client, me, b"img", size=100 * 1024 * 1024), 400)
    refused(_declare(client, me, b"img", content_type="application/x-sh"), 400)
    refused(_declare(client, me, b"img", kind="signature", content_type="image/jpeg"), 422)
    assert _declare(client, me, b"img").status_code == 201
    refused(_declare(client, me, b"img", size=4), 409)
    refused(_chunk(client, me, "0" * 64, 0, b"x"), 404)
    big = b"x" * (1024 * 1024 + 1)
    assert _declare(client, me, big, size=len(big)).status_code == 201
    refused(_chunk(client, me, hashlib.sha256(big).hexdigest(), 0, big), 413)


def test_a_push_of_long_notes_fits_and_an_oversized_body_is_a_413(
    client: TestClient[Any], auth: Any, world: World, device: str, snapshot: Any
) -> None:
    job = world.jobs["north_assigned"]
    long_notes = [note(job, i, body="x" * 10_000) for i in range(1, 301)]  # 3 MB: past the usual 256 KiB
    answer = push(client, auth("tech_n1"), device, long_notes)
    assert answer.status_code == 200, answer.text
    assert answer.json()["last_mutation_id"] == 300
    before = snapshot()
    huge = [*(note(job, i, body="y" * 10_000) for i in range(301, 751)), note(job, 751, body="z" * 4_000_000)]
    refused(push(client, auth("tech_n1"), device, huge), 413)  # 451 mutations, but 8.5 MB
    assert snapshot() == before


def test_a_value_the_database_cannot_hold_is_refused_alone(
    client: TestClient[Any], auth: Any, world: World, device: str, is_postgres: bool
) -> None:
    job = world.jobs["north_assigned"]
    answer = push(
        client, auth("tech_n1"), device, [note(job, 1, body="nul \x00 inside"), note(job, 2, body="next")]
    )
    assert answer.status_code == 200, answer.text
    results = [(r["result"], r["code"]) for r in answer.json()["results"]]
    # PostgreSQL cannot store a NUL in text; SQLite can. Either way the queue moves on.
    assert results == [("rejected", "invalid_value") if is_postgres else ("applied", None), ("applied", None)]
    report = client.get(f"/api/jobs/{job}/field-report", headers=auth("disp_north")).json()
    assert "next" in [n["body"] for n in report["notes"]]
