"""A retried online write with the same Idempotency-Key is answered again, never done twice."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from domain import models as m
from tests.conftest import World, rows


def _request(world: World, phone: str = "+33 6 44 55 66 77") -> dict[str, Any]:
    return {
        "channel": "phone",
        "description": "Water leaking under the sink",
        "customer": {"name": "Retry Customer", "phone": phone},
        "site": {"address": "3 Rue du Nord, Lyon", "latitude": 45.781, "longitude": 4.84},
        "service_type_id": str(world.service_types["leak-repair"]),
    }


def test_a_retried_intake_is_replayed_not_repeated(
    client: TestClient[Any], world: World, auth: Any, sessionmaker: Any
) -> None:
    headers = {**auth("disp_north"), "Idempotency-Key": "call-0042"}
    jobs_before = rows(sessionmaker, m.Job)
    first = client.post("/api/service-requests", json=_request(world), headers=headers)
    second = client.post("/api/service-requests", json=_request(world), headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert rows(sessionmaker, m.Job) == jobs_before + 1
    assert rows(sessionmaker, m.ServiceRequest) == 1


def test_the_same_key_with_another_body_is_refused(client: TestClient[Any], world: World, auth: Any) -> None:
    headers = {**auth("disp_north"), "Idempotency-Key": "call-0043"}
    assert client.post("/api/service-requests", json=_request(world), headers=headers).status_code == 201
    other = client.post("/api/service-requests", json=_request(world, "+33 6 00 00 00 01"), headers=headers)
    assert other.status_code == 422
    assert other.headers["content-type"].startswith("application/problem+json")
    assert "Idempotency-Key" in other.text


def test_a_failed_request_keeps_no_answer_so_the_corrected_retry_runs(
    client: TestClient[Any], world: World, auth: Any, sessionmaker: Any
) -> None:
    headers = {**auth("disp_north"), "Idempotency-Key": "call-0044"}
    broken = {
        **_request(world),
        "windows": [{"starts_at": "2030-01-01T12:00:00Z", "ends_at": "2030-01-01T08:00:00Z"}],
    }
    assert client.post("/api/service-requests", json=broken, headers=headers).status_code == 422
    assert rows(sessionmaker, m.IdempotencyRecord) == 0
    fixed = client.post("/api/service-requests", json=_request(world), headers=headers)
    assert fixed.status_code == 201
    assert "idempotent-replayed" not in fixed.headers


def test_keys_belong_to_the_user_who_sent_them(client: TestClient[Any], world: World, auth: Any) -> None:
    body = _request(world)
    north = client.post(
        "/api/service-requests", json=body, headers={**auth("disp_north"), "Idempotency-Key": "k1"}
    )
    admin = client.post(
        "/api/service-requests", json=body, headers={**auth("admin"), "Idempotency-Key": "k1"}
    )
    assert north.status_code == admin.status_code == 201
    assert "idempotent-replayed" not in admin.headers
    assert admin.json()["job"]["id"] != north.json()["job"]["id"]
