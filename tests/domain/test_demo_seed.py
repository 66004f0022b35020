"""`fieldwork seed` on an empty database gives a believable operation that every demo login can use at once.

Seeding takes a few seconds, so it is done once for the module, in a database of its own (the shared test database
is emptied before every test).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

from api import cli
from api.app import create_app
from api.settings import Settings
from domain import migrate
from domain.db import create_engine
from domain.demo import DEMO_PASSWORD, TIMEZONE
from tests.conftest import _postgres_database

PARIS = ZoneInfo(TIMEZONE)
OPEN = {"new", "scheduled", "dispatched", "en_route", "on_site", "in_progress", "on_hold", "reopened"}


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = os.environ.get("FIELDWORK_TEST_DATABASE_URL")
    if not base:
        url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
        migrate.upgrade(url)
        yield url
        return
    databases = _postgres_database(base)
    url = next(databases)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        databases.close()


@pytest.fixture(scope="module")
def seeded(demo_url: str) -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", demo_url)
        before = dt.datetime.now(PARIS).date()
        code = cli.main(["--database-url", demo_url, "seed"])
        after = dt.datetime.now(PARIS).date()
    assert code == 0
    if before != after:
        pytest.skip("the demo was seeded across midnight in Paris")
    return {"today": before, "url": demo_url}


@pytest.fixture(scope="module")
def demo(seeded: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient[Any]]:
    settings = Settings(
        database_url=seeded["url"],
        data_dir=tmp_path_factory.mktemp("demo-data"),
        jwt_secret="demo-secret-" + "x" * 32,
        login_attempts_per_minute=1000,
    )
    app = create_app(settings, create_engine(seeded["url"], poolclass=sa.pool.NullPool))
    with TestClient(app=app, raise_server_exceptions=False) as client:
        yield client


_tokens: dict[tuple[int, str], dict[str, str]] = {}


def as_user(client: TestClient[Any], email: str) -> dict[str, str]:
    if (id(client), email) not in _tokens:
        response = client.post("/api/auth/token", json={"username": email, "password": DEMO_PASSWORD})
        assert response.status_code == 200, response.text
        _tokens[id(client), email] = {"Authorization": f"Bearer {response.json()['access_token']}"}
    return _tokens[id(client), email]


def all_jobs(client: TestClient[Any], email: str) -> list[dict[str, Any]]:
    response = client.get("/api/jobs", params={"limit": 200}, headers=as_user(client, email))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] <= 200
    assert len(body["items"]) == body["total"]
    return body["items"]


@pytest.mark.parametrize(
    ("email", "role"),
    [
        ("admin@example.com", "admin"),
        ("dispatcher@example.com", "dispatcher"),
        ("tech01@example.com", "technician"),
    ],
)
def test_every_demo_login_works_with_the_demo_password(demo: TestClient[Any], email: str, role: str) -> None:
    me = demo.get("/api/me", headers=as_user(demo, email))
    assert me.status_code == 200
    assert (me.json()["email"], me.json()["role"]) == (email, role)


def test_a_wrong_password_is_refused(demo: TestClient[Any]) -> None:
    wrong = demo.post(
        "/api/auth/token", json={"username": "admin@example.com", "password": DEMO_PASSWORD + "!"}
    )
    assert wrong.status_code == 401


def test_three_territories_about_25_technicians_and_60_customers(demo: TestClient[Any]) -> None:
    admin = as_user(demo, "admin@example.com")
    territories = demo.get("/api/territories", headers=admin).json()
    assert len(territories) == 3
    technicians = demo.get("/api/technicians", params={"limit": 200}, headers=admin).json()
    assert 20 <= technicians["total"] <= 30
    assert {t["territory_id"] for t in technicians["items"]} == {t["id"] for t in territories}
    assert all(t["skills"] for t in technicians["items"])
    customers = demo.get("/api/customers", params={"limit": 1}, headers=admin).json()
    assert 50 <= customers["total"] <= 70


def test_about_150_open_jobs_over_today_and_tomorrow_some_assigned(
    demo: TestClient[Any], seeded: dict[str, Any]
) -> None:
    jobs = all_jobs(demo, "admin@example.com")
    assert 120 <= len(jobs) <= 180
    assert {j["status"] for j in jobs} <= OPEN
    today = seeded["today"]
    days = {
        dt.datetime.fromisoformat(w["starts_at"]).astimezone(PARIS).date()
        for j in jobs
        for w in j["time_windows"]
    }
    assert days == {today, today + dt.timedelta(days=1)}
    assert all(j["time_windows"] for j in jobs)
    assigned = [j for j in jobs if j["assignment"] is not None]
    assert 0 < len(assigned) < len(jobs)
    for job in jobs:
        if job["status"] in {"scheduled", "dispatched", "en_route", "on_site", "in_progress"}:
            assert job["assignment"] is not None, job
        else:
            assert job["assignment"] is None, job
    assert any(j["service_type_id"] is None for j in jobs), "some requests still wait for triage"
    assert all(j["respond_by"] <= j["resolve_by"] for j in jobs)


def test_jobs_can_be_listed_by_day(demo: TestClient[Any], seeded: dict[str, Any]) -> None:
    admin = as_user(demo, "admin@example.com")
    total = len(all_jobs(demo, "admin@example.com"))
    per_day = [
        demo.get(
            "/api/jobs",
            params={"date": str(seeded["today"] + dt.timedelta(days=d)), "limit": 1},
            headers=admin,
        ).json()["total"]
        for d in (0, 1)
    ]
    assert all(n > 0 for n in per_day)
    assert sum(per_day) == total


def test_tech01_sees_only_their_own_jobs(demo: TestClient[Any]) -> None:
    me = demo.get("/api/me", headers=as_user(demo, "tech01@example.com")).json()
    theirs = all_jobs(demo, "tech01@example.com")
    assert theirs, "the demo gives tech01 some work"
    assert all(j["assignment"]["technician_id"] == me["technician_id"] for j in theirs)
    everyone = all_jobs(demo, "admin@example.com")
    assigned_to_them = {
        j["id"]
        for j in everyone
        if j["assignment"] and j["assignment"]["technician_id"] == me["technician_id"]
    }
    assert {j["id"] for j in theirs} == assigned_to_them
    other = next(j for j in everyone if j["id"] not in assigned_to_them)
    assert (
        demo.get(f"/api/jobs/{other['id']}", headers=as_user(demo, "tech01@example.com")).status_code == 404
    )


def test_the_main_dispatcher_sees_every_territory_and_a_local_one_only_theirs(demo: TestClient[Any]) -> None:
    everyone = all_jobs(demo, "admin@example.com")
    assert {j["id"] for j in all_jobs(demo, "dispatcher@example.com")} == {j["id"] for j in everyone}
    north = all_jobs(demo, "dispatcher-north@example.com")
    territories = demo.get("/api/territories", headers=as_user(demo, "admin@example.com")).json()
    north_id = next(t["id"] for t in territories if t["code"] == "lyon-north")
    assert north
    assert {j["id"] for j in north} == {j["id"] for j in everyone if j["territory_id"] == north_id}


def test_the_seeded_audit_chain_verifies(seeded: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    url = seeded["url"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", url)
        code = cli.main(["--database-url", url, "audit", "verify"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "intact" in out.out


def test_seeding_again_is_refused_or_skipped_without_duplicating(
    demo: TestClient[Any], seeded: dict[str, Any]
) -> None:
    before = len(all_jobs(demo, "admin@example.com"))
    url = seeded["url"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", url)
        assert cli.main(["--database-url", url, "seed"]) == 1
        assert cli.main(["--database-url", url, "seed", "--if-empty"]) == 0
    assert len(all_jobs(demo, "admin@example.com")) == before
