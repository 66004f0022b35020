"""Who sees what: every role against every read route, on objects inside and outside their scope.

A technician sees only the jobs assigned to them, gets 404 for any other job and 403 on the office's routes; a
dispatcher sees only the jobs and technicians of their territories (404 for the other territory's); an admin sees
everything. Out-of-scope objects answer 404, never 403, so that their existence does not leak.

The matrix only reads (or attempts writes that must be refused), so the world is built once for the module.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from api.auth import issue_token
from api.settings import Settings
from domain import models as m
from domain.db import create_engine
from domain.enums import MessageState
from domain.session import AuditedSession
from tests.conftest import PASSWORD, World, _empty, build_world

ROLES = ["admin", "disp_north", "disp_south", "tech_n1", "tech_n2", "tech_s1", "anonymous"]
OFFICE = {"admin", "disp_north", "disp_south"}
JOBS = ["north_assigned", "north_open", "north_untriaged", "south_open"]
TECHNICIANS = ["tech_n1", "tech_n2", "tech_s1", "tech_s2"]
CUSTOMERS = ["north", "south"]

JOBS_SEEN = {
    "admin": set(JOBS),
    "disp_north": {"north_assigned", "north_open", "north_untriaged"},
    "disp_south": {"south_open"},
    "tech_n1": {"north_assigned"},
    "tech_n2": set(),
    "tech_s1": set(),
}
TECHNICIANS_SEEN = {
    "admin": set(TECHNICIANS),
    "disp_north": {"tech_n1", "tech_n2"},
    "disp_south": {"tech_s1", "tech_s2"},
}
# Dead letters: a customer message per territory, and a technician's day (no territory; seen through the technician).
OUTBOX_SEEN = {
    "admin": {"north_dead", "south_dead", "tech_s2_day"},
    "disp_north": {"north_dead"},
    "disp_south": {"south_dead", "tech_s2_day"},
}


async def _add_outbox(maker: async_sessionmaker[AsyncSession], world: World) -> dict[str, str]:
    rows = {
        "north_dead": {"territory_id": world.territories["north"], "job_id": world.jobs["north_open"]},
        "south_dead": {"territory_id": world.territories["south"], "job_id": world.jobs["south_open"]},
        "tech_s2_day": {"technician_id": world.technicians["tech_s2"], "channel": "push"},
    }
    async with maker() as s:
        s.info["actor"] = "test:outbox"
        for key, values in rows.items():
            s.add(
                m.OutboxMessage(
                    **{
                        "id": uuid.uuid4(),
                        "key": key,
                        "channel": "email",
                        "recipient": "someone@example.net",
                        "subject": "Hello",
                        "body": {"text": "Hello"},
                        "state": MessageState.DEAD,
                        "attempts": 8,
                        **values,
                    }
                )
            )
        await s.commit()
        return {r.key: str(r.id) for r in await s.scalars(sa.select(m.OutboxMessage))}


class Scoped:
    def __init__(self, client: TestClient[Any], world: World, tokens: dict[str, str]) -> None:
        self.client = client
        self.world = world
        self._headers = {who: {"Authorization": f"Bearer {token}"} for who, token in tokens.items()}
        self._headers["anonymous"] = {}
        self.outbox: dict[str, str] = {}

    def headers(self, who: str) -> dict[str, str]:
        return self._headers[who]

    def name_of(self, ident: str) -> str:
        for group in (self.world.jobs, self.world.technicians, self.world.customers):
            for name, value in group.items():
                if str(value) == ident:
                    return name
        return ident


@pytest.fixture(scope="module")
def scoped(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scoped]:
    engine = create_engine(database_url, poolclass=sa.pool.NullPool)
    asyncio.run(_empty(engine))
    maker = async_sessionmaker(engine, expire_on_commit=False, sync_session_class=AuditedSession)
    world = asyncio.run(build_world(maker))
    outbox = asyncio.run(_add_outbox(maker, world))
    settings = Settings(
        database_url=database_url,
        data_dir=Path(tmp_path_factory.mktemp("scoping")),
        jwt_secret="scoping-secret-" + "x" * 32,
        login_attempts_per_minute=1000,
    )
    app = create_app(settings, engine)

    async def users() -> dict[str, m.User]:
        async with maker() as s:
            return {u.email: u for u in await s.scalars(sa.select(m.User))}

    by_email = asyncio.run(users())
    # Signed directly to spare an Argon2 verification per role; one real login checks the world's credentials.
    tokens = {
        who: issue_token(app.state.jwt_auth, settings, by_email[email]) for who, email in world.users.items()
    }
    with TestClient(app=app, raise_server_exceptions=False) as client:
        login = client.post(
            "/api/auth/token", json={"username": world.users["disp_north"], "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        found = Scoped(client, world, tokens)
        found.outbox = outbox
        yield found


def _status(who: str, *, office_only: bool = False, admin_only: bool = False, visible: bool = True) -> int:
    if who == "anonymous":
        return 401
    if admin_only and who != "admin":
        return 403
    if office_only and who not in OFFICE:
        return 403
    return 200 if visible else 404


def _cases() -> Iterator[Any]:
    for who in ROLES:
        seen_jobs = JOBS_SEEN.get(who, set())
        yield pytest.param(who, "/api/jobs", None, _status(who), id=f"{who}-list-jobs")
        for job in JOBS:
            expected = _status(who, visible=job in seen_jobs)
            yield pytest.param(who, "/api/jobs/{job}", job, expected, id=f"{who}-get-job-{job}")
            yield pytest.param(
                who, "/api/jobs/{job}/status-events", job, expected, id=f"{who}-job-events-{job}"
            )
            # No job of this world is sealed: in scope, the 409 saying so; out of scope, still 404.
            yield pytest.param(
                who,
                "/api/jobs/{job}/certificate",
                job,
                409 if expected == 200 else expected,
                id=f"{who}-certificate-{job}",
            )
        yield pytest.param(
            who, "/api/technicians", None, _status(who, office_only=True), id=f"{who}-list-technicians"
        )
        for tech in TECHNICIANS:
            expected = _status(who, office_only=True, visible=tech in TECHNICIANS_SEEN.get(who, set()))
            yield pytest.param(
                who, "/api/technicians/{technician}", tech, expected, id=f"{who}-get-technician-{tech}"
            )
            yield pytest.param(
                who,
                "/api/technicians/{technician}/shifts",
                tech,
                expected,
                id=f"{who}-technician-shifts-{tech}",
            )
        yield pytest.param(
            who, "/api/customers", None, _status(who, office_only=True), id=f"{who}-list-customers"
        )
        for customer in CUSTOMERS:
            expected = _status(who, office_only=True)
            yield pytest.param(
                who, "/api/customers/{customer}", customer, expected, id=f"{who}-get-customer-{customer}"
            )
            yield pytest.param(
                who,
                "/api/customers/{customer}/sites",
                customer,
                expected,
                id=f"{who}-customer-sites-{customer}",
            )
        for route in ("/api/service-types", "/api/skills", "/api/territories", "/api/sla-policies"):
            yield pytest.param(who, route, None, _status(who, office_only=True), id=f"{who}-list-{route[5:]}")
        yield pytest.param(who, "/api/users", None, _status(who, admin_only=True), id=f"{who}-list-users")
        yield pytest.param(who, "/api/outbox", None, _status(who, office_only=True), id=f"{who}-list-outbox")
        yield pytest.param(who, "/api/me", None, _status(who), id=f"{who}-me")


@pytest.mark.parametrize(("who", "route", "target", "expected"), list(_cases()))
def test_read_scope(scoped: Scoped, who: str, route: str, target: str | None, expected: int) -> None:
    world = scoped.world
    path = route.format(
        job=world.jobs.get(target or "", ""),
        technician=world.technicians.get(target or "", ""),
        customer=world.customers.get(target or "", ""),
    )
    response = scoped.client.get(path, headers=scoped.headers(who))
    assert response.status_code == expected, response.text
    if expected != 200:
        assert response.headers["content-type"].startswith("application/problem+json")
        return
    body = response.json()
    items = body["items"] if isinstance(body, dict) and "items" in body else body
    if route == "/api/jobs":
        assert {scoped.name_of(j["id"]) for j in items} == JOBS_SEEN[who]
        assert body["total"] == len(JOBS_SEEN[who])
    elif route == "/api/technicians":
        assert {scoped.name_of(t["id"]) for t in items} == TECHNICIANS_SEEN[who]
        assert body["total"] == len(TECHNICIANS_SEEN[who])
    elif route == "/api/customers":
        assert {scoped.name_of(c["id"]) for c in items} == set(CUSTOMERS)
    elif route == "/api/outbox":
        assert {i["key"] for i in items} == OUTBOX_SEEN[who]
        assert body["total"] == len(OUTBOX_SEEN[who])
    elif route == "/api/users":
        assert {u["email"] for u in items} == set(world.users.values())
    elif route == "/api/jobs/{job}":
        assert body["id"] == str(world.jobs[target or ""])
    elif route == "/api/me":
        assert body["email"] == world.users[who]


@pytest.mark.parametrize(
    ("who", "territory", "expected"),
    [
        ("disp_north", "south", set()),
        ("disp_south", "north", set()),
        ("admin", "south", {"tech_s1", "tech_s2"}),
        ("disp_north", "north", {"tech_n1", "tech_n2"}),
    ],
)
def test_a_territory_filter_never_reaches_outside_the_scope(
    scoped: Scoped, who: str, territory: str, expected: set[str]
) -> None:
    territory_id = str(scoped.world.territories[territory])
    technicians = scoped.client.get(
        "/api/technicians", params={"territory_id": territory_id}, headers=scoped.headers(who)
    ).json()
    assert {scoped.name_of(t["id"]) for t in technicians["items"]} == expected
    jobs = scoped.client.get(
        "/api/jobs", params={"territory_id": territory_id}, headers=scoped.headers(who)
    ).json()
    assert {scoped.name_of(j["id"]) for j in jobs["items"]} == {
        j for j in JOBS_SEEN[who] if j.startswith(territory)
    }


def _write_cases() -> Iterator[Any]:
    """Writes on objects outside the caller's scope: 404 like a read, and nothing changes."""
    for who, job in (
        ("disp_north", "south_open"),
        ("disp_south", "north_open"),
        ("disp_south", "north_assigned"),
        ("tech_n1", "north_open"),
        ("tech_n2", "north_assigned"),
        ("tech_s1", "south_open"),
    ):
        yield pytest.param(
            who,
            "POST",
            "/api/jobs/{job}/transitions",
            job,
            {"to_status": "cancelled", "reason": "not mine"},
            404,
            id=f"{who}-move-{job}",
        )
        yield pytest.param(
            who,
            "POST",
            "/api/jobs/{job}/transitions",
            job,
            {"to_status": "en_route"},
            404,
            id=f"{who}-field-move-{job}",
        )
        expected = 404 if who in OFFICE else 403
        yield pytest.param(
            who, "PATCH", "/api/jobs/{job}", job, {"priority": "urgent"}, expected, id=f"{who}-triage-{job}"
        )
    yield pytest.param(
        "disp_north",
        "PUT",
        "/api/jobs/{job}/assignment",
        "south_open",
        {"technician_id": "tech_s1"},
        404,
        id="disp_north-assign-south_open",
    )
    yield pytest.param(
        "disp_south",
        "PUT",
        "/api/jobs/{job}/assignment",
        "north_open",
        {"technician_id": "tech_n1"},
        404,
        id="disp_south-assign-north_open",
    )
    yield pytest.param(
        "disp_north",
        "PATCH",
        "/api/technicians/{technician}",
        "tech_s1",
        {"name": "Renamed"},
        404,
        id="disp_north-rename-tech_s1",
    )
    yield pytest.param(
        "disp_south",
        "PATCH",
        "/api/technicians/{technician}",
        "tech_n1",
        {"name": "Renamed"},
        404,
        id="disp_south-rename-tech_n1",
    )
    for who, message, expected in (
        ("disp_north", "south_dead", 404),
        ("disp_north", "tech_s2_day", 404),
        ("disp_south", "north_dead", 404),
        ("tech_n1", "north_dead", 403),
    ):
        yield pytest.param(
            who, "POST", "/api/outbox/{message}/retry", message, {}, expected, id=f"{who}-retry-{message}"
        )
    yield pytest.param(
        "tech_n1",
        "PATCH",
        "/api/technicians/{technician}",
        "tech_n1",
        {"name": "Renamed"},
        403,
        id="tech_n1-rename-self",
    )


@pytest.mark.parametrize(("who", "method", "route", "target", "payload", "expected"), list(_write_cases()))
def test_out_of_scope_writes_are_refused_and_change_nothing(
    scoped: Scoped, who: str, method: str, route: str, target: str, payload: dict[str, Any], expected: int
) -> None:
    world = scoped.world
    path = route.format(
        job=world.jobs.get(target, ""),
        technician=world.technicians.get(target, ""),
        message=scoped.outbox.get(target, ""),
    )
    if "technician_id" in payload:
        payload = {**payload, "technician_id": str(world.technicians[payload["technician_id"]])}
    before = _state(scoped)
    response = scoped.client.request(
        method, path, json=payload, headers={**scoped.headers(who), "If-Match": '"1"'}
    )
    assert response.status_code == expected, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert _state(scoped) == before


def _state(scoped: Scoped) -> list[Any]:
    admin = scoped.headers("admin")
    jobs = scoped.client.get("/api/jobs", headers=admin).json()["items"]
    technicians = scoped.client.get("/api/technicians", headers=admin).json()["items"]
    outbox = scoped.client.get("/api/outbox", headers=admin).json()["items"]
    return [
        sorted((j["id"], j["status"], j["version"], j["priority"]) for j in jobs),
        sorted((t["id"], t["name"]) for t in technicians),
        sorted((o["id"], o["state"], o["attempts"]) for o in outbox),
    ]
