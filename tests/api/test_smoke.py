"""The first path through the service: log in, take a request in, see it, move it."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from tests.conftest import World, login


def test_health_checks_the_database(client: TestClient[Any]) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_technician_sees_only_their_own_jobs(client: TestClient[Any], world: World, auth: Any) -> None:
    response = client.get("/api/jobs", headers=auth("tech_n1"))
    assert response.status_code == 200
    assert [j["id"] for j in response.json()["items"]] == [str(world.jobs["north_assigned"])]
    other = client.get(f"/api/jobs/{world.jobs['north_open']}", headers=auth("tech_n1"))
    assert other.status_code == 404
    assert other.headers["content-type"].startswith("application/problem+json")


def test_logging_in_gives_a_bearer_token_that_works(client: TestClient[Any], world: World) -> None:
    headers = login(client, world.users["disp_north"])
    assert client.get("/api/me", headers=headers).json()["email"] == world.users["disp_north"]
