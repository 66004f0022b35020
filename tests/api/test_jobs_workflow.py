"""The life of a job through the API: lists and filters, triage under If-Match, assignment by skill, the status
moves of the office and of the field, cancelling, illegal moves, and many dispatchers racing on one job."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.app import create_app
from api.auth import issue_token
from api.settings import Settings
from domain import models as m
from domain.audit import verify_chain
from domain.classification import DEFAULT_SLA
from domain.enums import Priority, Role
from tests.conftest import TODAY, World

TOMORROW = TODAY + dt.timedelta(days=1)
ALL = {"north_assigned", "north_open", "north_untriaged", "south_open"}


def names(world: World, items: list[dict[str, Any]]) -> list[str]:
    by_id = {str(v): k for k, v in world.jobs.items()}
    return [by_id.get(j["id"], j["id"]) for j in items]


def listed(client: TestClient[Any], headers: dict[str, str], world: World, **params: Any) -> set[str]:
    response = client.get("/api/jobs", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == len(body["items"])
    return set(names(world, body["items"]))


def assert_problem(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    if field is not None:
        assert field in [e["field"] for e in problem.get("errors", [])], problem
    return problem


def at(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def etag_version(response: httpx.Response) -> int:
    return int(response.headers["etag"].strip('"'))


def move(
    client: TestClient[Any],
    headers: dict[str, str],
    job_id: Any,
    to: str,
    reason: str | None = None,
    if_match: str | None = None,
) -> httpx.Response:
    payload: dict[str, Any] = {"to_status": to}
    if reason is not None:
        payload["reason"] = reason
    if if_match is not None:
        headers = {**headers, "If-Match": if_match}
    return client.post(f"/api/jobs/{job_id}/transitions", json=payload, headers=headers)


def user_id(client: TestClient[Any], headers: dict[str, str]) -> str:
    return str(client.get("/api/me", headers=headers).json()["id"])


# Lists and filters ------------------------------------------------------------------------------------------------


@pytest.fixture
def varied(world: World, sessionmaker: async_sessionmaker[AsyncSession]) -> World:
    """The world with some variety: south_open is urgent and due soon, north_untriaged is wanted in three days."""

    async def vary() -> None:
        async with sessionmaker() as s:
            s.info["actor"] = "test:setup"
            south = await s.get_one(m.Job, world.jobs["south_open"])
            south.priority, south.resolve_by = Priority.URGENT, TODAY + dt.timedelta(hours=10)
            untriaged = await s.get_one(m.Job, world.jobs["north_untriaged"])
            untriaged.time_windows[0].starts_at = TODAY + dt.timedelta(days=3, hours=8)
            untriaged.time_windows[0].ends_at = TODAY + dt.timedelta(days=3, hours=12)
            await s.commit()

    asyncio.run(vary())
    return world


FILTER_CASES: list[tuple[dict[str, Any], set[str]]] = [
    ({}, ALL),
    ({"status": "new"}, {"north_open", "north_untriaged", "south_open"}),
    ({"status": ["new", "dispatched"]}, ALL),
    ({"status": "dispatched"}, {"north_assigned"}),
    ({"status": "completed"}, set()),
    ({"territory_id": "south"}, {"south_open"}),
    ({"territory_id": "north"}, {"north_assigned", "north_open", "north_untriaged"}),
    ({"priority": "urgent"}, {"south_open"}),
    ({"priority": "normal"}, {"north_assigned", "north_open", "north_untriaged"}),
    ({"priority": "low"}, set()),
    ({"date": "tomorrow"}, {"north_assigned", "north_open", "south_open"}),
    ({"date": "in three days"}, {"north_untriaged"}),
    ({"date": "today"}, set()),
    ({"resolve_by_before": "in 20 hours"}, {"south_open"}),
    ({"resolve_by_before": "in 20 hours, naive"}, {"south_open"}),
    ({"resolve_by_before": "in 100 hours"}, ALL),
    ({"needs_triage": "true"}, {"north_untriaged"}),
    ({"needs_triage": "false"}, {"north_assigned", "north_open", "south_open"}),
    ({"technician_id": "tech_n1"}, {"north_assigned"}),
    ({"status": "new", "territory_id": "north", "needs_triage": "false"}, {"north_open"}),
]


def test_list_filters(client: TestClient[Any], auth: Any, varied: World) -> None:
    """Every filter of GET /api/jobs, alone and combined, on one world (a world per case would be slow)."""
    for params, expected in FILTER_CASES:
        assert listed(client, auth("admin"), varied, **_resolve(varied, params)) == expected, params


def _resolve(world: World, params: dict[str, Any]) -> dict[str, Any]:
    resolved = dict(params)
    if "territory_id" in resolved:
        resolved["territory_id"] = str(world.territories[resolved["territory_id"]])
    if "technician_id" in resolved:
        resolved["technician_id"] = str(world.technicians[resolved["technician_id"]])
    days = {"today": TODAY, "tomorrow": TOMORROW, "in three days": TODAY + dt.timedelta(days=3)}
    if "date" in resolved:
        resolved["date"] = str(days[resolved["date"]].date())
    instants = {
        "in 20 hours": (TODAY + dt.timedelta(hours=20)).isoformat(),
        "in 20 hours, naive": (TODAY + dt.timedelta(hours=20)).replace(tzinfo=None).isoformat(),
        "in 100 hours": (TODAY + dt.timedelta(hours=100)).isoformat(),
    }
    if "resolve_by_before" in resolved:
        resolved["resolve_by_before"] = instants[resolved["resolve_by_before"]]
    return resolved


def test_lists_are_most_urgent_deadline_first(client: TestClient[Any], auth: Any, varied: World) -> None:
    body = client.get("/api/jobs", headers=auth("admin")).json()
    assert names(varied, body["items"])[0] == "south_open"
    deadlines = [at(j["resolve_by"]) for j in body["items"]]
    assert deadlines == sorted(deadlines)


def test_filters_never_widen_the_callers_scope(client: TestClient[Any], auth: Any, world: World) -> None:
    south = str(world.territories["south"])
    assert listed(client, auth("disp_north"), world, territory_id=south) == set()
    assert listed(client, auth("tech_n1"), world, status="new") == set()


def test_bad_filter_and_paging_values_are_400(client: TestClient[Any], auth: Any, world: World) -> None:
    for params in (
        {"status": "lost"},
        {"priority": "asap"},
        {"date": "tomorrow"},
        {"needs_triage": "maybe"},
        {"territory_id": "north"},
        {"limit": 0},
        {"limit": 201},
        {"offset": -1},
        {"limit": "ten"},
    ):
        assert_problem(client.get("/api/jobs", params=params, headers=auth("admin")), 400)


def test_pages_cover_the_list_exactly_once(client: TestClient[Any], auth: Any, world: World) -> None:
    everything = client.get("/api/jobs", headers=auth("admin")).json()
    assert everything["total"] == 4
    for limit in (1, 2, 3, 4):
        assert _pages(client, auth("admin"), limit) == [j["id"] for j in everything["items"]], limit


def _pages(client: TestClient[Any], headers: dict[str, str], limit: int) -> list[str]:
    seen: list[str] = []
    for offset in range(0, 4, limit):
        page = client.get("/api/jobs", params={"limit": limit, "offset": offset}, headers=headers).json()
        assert (page["total"], page["limit"], page["offset"]) == (4, limit, offset)
        assert len(page["items"]) == min(limit, 4 - offset)
        seen += [j["id"] for j in page["items"]]
    return seen


def test_total_counts_every_match_not_just_the_page(client: TestClient[Any], auth: Any, world: World) -> None:
    filtered = client.get("/api/jobs", params={"limit": 1, "status": "new"}, headers=auth("admin")).json()
    assert (len(filtered["items"]), filtered["total"]) == (1, 3)
    last = client.get("/api/jobs", params={"limit": 3, "offset": 3}, headers=auth("admin")).json()
    assert (len(last["items"]), last["total"]) == (1, 4)


@pytest.mark.parametrize("offset", [4, 10])
def test_a_page_past_the_end_is_empty_but_still_counts(
    client: TestClient[Any], auth: Any, world: World, offset: int
) -> None:
    page = client.get("/api/jobs", params={"limit": 2, "offset": offset}, headers=auth("admin")).json()
    assert (page["items"], page["total"]) == ([], 4)
    # The same paging serves the other lists.
    for route, total in (("/api/technicians", 4), ("/api/customers", 2), ("/api/users", 7)):
        page = client.get(route, params={"limit": 2, "offset": offset + 10}, headers=auth("admin")).json()
        assert (page["items"], page["total"]) == ([], total), route


# Triage -----------------------------------------------------------------------------------------------------------


def test_triage_needs_if_match(client: TestClient[Any], auth: Any, world: World, snapshot: Any) -> None:
    before = snapshot()
    job_id = world.jobs["north_untriaged"]
    payload = {"service_type_id": str(world.service_types["electrical-fault"])}
    assert_problem(client.patch(f"/api/jobs/{job_id}", json=payload, headers=auth("disp_north")), 428)
    stale = client.patch(
        f"/api/jobs/{job_id}", json=payload, headers={**auth("disp_north"), "If-Match": '"999"'}
    )
    current = etag_version(client.get(f"/api/jobs/{job_id}", headers=auth("disp_north")))
    assert assert_problem(stale, 412)["current_version"] == current
    assert snapshot() == before


def test_triage_applies_the_classification_and_bumps_the_version(
    client: TestClient[Any], auth: Any, world: World
) -> None:
    job_id = world.jobs["north_untriaged"]
    headers = auth("disp_north")
    read = client.get(f"/api/jobs/{job_id}", headers=headers)
    version = etag_version(read)
    assert read.json()["version"] == version

    triaged = client.patch(
        f"/api/jobs/{job_id}",
        json={"service_type_id": str(world.service_types["electrical-fault"])},
        headers={**headers, "If-Match": read.headers["etag"]},
    )
    assert triaged.status_code == 200, triaged.text
    job = triaged.json()
    assert etag_version(triaged) == job["version"] > version
    assert job["service_type_id"] == str(world.service_types["electrical-fault"])
    assert job["required_skills"] == [{"skill_id": str(world.skills["electrical"]), "min_level": 3}]
    assert (job["duration_s"], job["checklist"], job["tools"]) == (
        5400,
        ["Circuit isolated"],
        ["Voltage tester"],
    )
    assert job["priority"] == "high"
    high = DEFAULT_SLA[Priority.HIGH]
    assert at(job["respond_by"]) == at(job["created_at"]) + dt.timedelta(seconds=high.respond_within_s)
    assert at(job["resolve_by"]) == at(job["created_at"]) + dt.timedelta(seconds=high.resolve_within_s)
    assert client.get(f"/api/jobs/{job_id}", headers=headers).headers["etag"] == triaged.headers["etag"]
    assert "north_untriaged" not in listed(client, headers, world, needs_triage="true")

    # The ETag read before the triage is now stale.
    again = client.patch(
        f"/api/jobs/{job_id}", json={"priority": "low"}, headers={**headers, "If-Match": read.headers["etag"]}
    )
    assert assert_problem(again, 412)["current_version"] == job["version"]

    urgent = client.patch(
        f"/api/jobs/{job_id}",
        json={"priority": "urgent"},
        headers={**headers, "If-Match": f"W/{triaged.headers['etag']}"},
    )
    assert urgent.status_code == 200, urgent.text
    job = urgent.json()
    assert (job["priority"], job["service_type_id"]) == (
        "urgent",
        str(world.service_types["electrical-fault"]),
    )
    assert etag_version(urgent) == job["version"] > etag_version(triaged)
    assert at(job["respond_by"]) == at(job["created_at"]) + dt.timedelta(hours=1)
    assert at(job["resolve_by"]) == at(job["created_at"]) + dt.timedelta(hours=8)


def test_triage_counts_the_deadlines_from_when_the_request_came_in(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    headers = auth("disp_north")
    intake = client.post(
        "/api/service-requests",
        json={
            "channel": "chat",
            "description": "Something odd",
            "customer": {"name": "Late triage", "email": "late@example.org"},
            "site": {"address": "4 Rue de Cuire, Lyon"},
        },
        headers=headers,
    ).json()
    job_id = intake["job"]["id"]

    async def received() -> dt.datetime:
        async with sessionmaker() as s:
            request = await s.get_one(m.ServiceRequest, uuid.UUID(intake["service_request_id"]))
            return request.received_at

    etag = client.get(f"/api/jobs/{job_id}", headers=headers).headers["etag"]
    triaged = client.patch(
        f"/api/jobs/{job_id}",
        json={"service_type_id": str(world.service_types["leak-repair"])},
        headers={**headers, "If-Match": etag},
    )
    assert triaged.status_code == 200, triaged.text
    job = triaged.json()
    assert (job["priority"], job["suggested_service_type_codes"]) == ("urgent", [])
    urgent = DEFAULT_SLA[Priority.URGENT]
    assert at(job["respond_by"]) == asyncio.run(received()) + dt.timedelta(seconds=urgent.respond_within_s)
    assert at(job["resolve_by"]) == asyncio.run(received()) + dt.timedelta(seconds=urgent.resolve_within_s)


def test_technicians_cannot_triage(client: TestClient[Any], auth: Any, world: World) -> None:
    job_id = world.jobs["north_assigned"]
    etag = client.get(f"/api/jobs/{job_id}", headers=auth("tech_n1")).headers["etag"]
    response = client.patch(
        f"/api/jobs/{job_id}", json={"priority": "urgent"}, headers={**auth("tech_n1"), "If-Match": etag}
    )
    assert_problem(response, 403)


def test_a_closed_job_cannot_be_triaged(client: TestClient[Any], auth: Any, world: World) -> None:
    job_id = world.jobs["north_open"]
    assert move(client, auth("disp_north"), job_id, "cancelled", "duplicate").status_code == 200
    etag = client.get(f"/api/jobs/{job_id}", headers=auth("disp_north")).headers["etag"]
    response = client.patch(
        f"/api/jobs/{job_id}", json={"priority": "urgent"}, headers={**auth("disp_north"), "If-Match": etag}
    )
    assert_problem(response, 409)


# Assignment -------------------------------------------------------------------------------------------------------


def assign(
    client: TestClient[Any], headers: dict[str, str], job_id: Any, technician_id: Any, **extra: Any
) -> httpx.Response:
    return client.put(
        f"/api/jobs/{job_id}/assignment", json={"technician_id": str(technician_id), **extra}, headers=headers
    )


def test_assignment_refuses_a_technician_who_cannot_do_the_job(
    client: TestClient[Any], auth: Any, world: World, snapshot: Any
) -> None:
    before = snapshot()
    for who, technician in (
        ("disp_north", "tech_n2"),  # lacks plumbing
        ("admin", "tech_n2"),
        ("admin", "tech_s1"),  # has plumbing but works in the south
        ("disp_north", "tech_s1"),  # not one of the north dispatcher's technicians
        ("admin", "nobody"),
    ):
        technician_id = world.technicians.get(technician, uuid.uuid4())
        response = assign(client, auth(who), world.jobs["north_open"], technician_id)
        problem = assert_problem(response, 422, "technician_id")
        if technician == "tech_n2":
            assert "plumbing" in problem["detail"]
    assert snapshot() == before


def test_assignment_moves_a_new_job_to_scheduled(client: TestClient[Any], auth: Any, world: World) -> None:
    job_id = world.jobs["north_open"]
    headers = auth("disp_north")
    before = client.get(f"/api/jobs/{job_id}", headers=headers)
    planned = (TOMORROW + dt.timedelta(hours=9)).isoformat()
    response = assign(client, headers, job_id, world.technicians["tech_n1"], planned_start=planned)
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["status"] == "scheduled"
    assert job["assignment"]["technician_id"] == str(world.technicians["tech_n1"])
    assert at(job["assignment"]["planned_start"]) == at(planned)
    assert etag_version(response) == job["version"] > before.json()["version"]
    events = client.get(f"/api/jobs/{job_id}/status-events", headers=headers).json()
    assert [(e["from_status"], e["to_status"], e["reason"], e["actor_user_id"]) for e in events] == [
        ("new", "scheduled", "assigned", user_id(client, headers))
    ]
    assert str(job_id) in {j["id"] for j in client.get("/api/jobs", headers=auth("tech_n1")).json()["items"]}


def test_assignment_honours_if_match(client: TestClient[Any], auth: Any, world: World, snapshot: Any) -> None:
    before = snapshot()
    response = client.put(
        f"/api/jobs/{world.jobs['north_open']}/assignment",
        json={"technician_id": str(world.technicians["tech_n1"])},
        headers={**auth("disp_north"), "If-Match": '"41"'},
    )
    assert_problem(response, 412)
    assert snapshot() == before


def test_an_untriaged_job_cannot_be_assigned(
    client: TestClient[Any], auth: Any, world: World, snapshot: Any
) -> None:
    before = snapshot()
    assert_problem(
        assign(client, auth("disp_north"), world.jobs["north_untriaged"], world.technicians["tech_n1"]), 409
    )
    assert snapshot() == before


def test_a_job_under_way_cannot_be_reassigned(client: TestClient[Any], auth: Any, world: World) -> None:
    assert_problem(
        assign(client, auth("admin"), world.jobs["north_assigned"], world.technicians["tech_n1"]), 409
    )


def test_technicians_cannot_assign(client: TestClient[Any], auth: Any, world: World, snapshot: Any) -> None:
    before = snapshot()
    assert_problem(
        assign(client, auth("tech_n1"), world.jobs["north_assigned"], world.technicians["tech_n1"]), 403
    )
    assert snapshot() == before


# Status moves -----------------------------------------------------------------------------------------------------


def test_the_legal_path_from_intake_to_completion_is_logged_in_order(
    client: TestClient[Any], auth: Any, world: World
) -> None:
    office, field = auth("disp_north"), auth("tech_n1")
    intake = client.post(
        "/api/service-requests",
        json={
            "channel": "phone",
            "description": "Burst pipe",
            "service_type_id": str(world.service_types["leak-repair"]),
            "customer": {"name": "Path", "phone": "+33 4 78 11 22 33"},
            "site": {"address": "9 Rue Vendôme, Lyon"},
        },
        headers=office,
    )
    assert intake.status_code == 201, intake.text
    job_id = intake.json()["job"]["id"]
    response = assign(client, office, job_id, world.technicians["tech_n1"])
    assert response.json()["status"] == "scheduled"

    # The office dispatches; the field may not.
    assert_problem(move(client, field, job_id, "dispatched"), 403)
    versions = [response.json()["version"]]
    steps = [
        (office, "dispatched"),
        (field, "en_route"),
        (field, "on_site"),
        (field, "in_progress"),
    ]
    for headers, to in steps:
        response = move(client, headers, job_id, to, if_match=f'"{versions[-1]}"')
        assert response.status_code == 200, (to, response.text)
        assert response.json()["status"] == to
        versions.append(etag_version(response))
    assert versions == sorted(set(versions)), "every move bumps the version"
    # Completion is its own call: a plain move is refused and points to it.
    refused = move(client, field, job_id, "completed")
    assert_problem(refused, 409)
    assert "CompleteJob" in refused.json()["detail"]
    done = client.post(
        f"/api/jobs/{job_id}/completion",
        json={
            "outcome": "fixed",
            "answers": {"Water isolated": True, "Repair tested": "yes, no leak after 10 min"},
            "remote_sign_off": True,
        },
        headers=field,
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"

    events = client.get(f"/api/jobs/{job_id}/status-events", headers=field).json()
    office_id, field_id = user_id(client, office), user_id(client, field)
    assert [(e["from_status"], e["to_status"], e["actor_user_id"]) for e in events] == [
        (None, "new", office_id),
        ("new", "scheduled", office_id),
        ("scheduled", "dispatched", office_id),
        ("dispatched", "en_route", field_id),
        ("en_route", "on_site", field_id),
        ("on_site", "in_progress", field_id),
        ("in_progress", "completed", field_id),
    ]
    times = [at(e["occurred_at"]) for e in events]
    assert times == sorted(times)

    assert_problem(move(client, field, job_id, "closed"), 403)
    assert move(client, office, job_id, "closed").json()["status"] == "closed"


def test_if_match_on_a_move_must_be_current(
    client: TestClient[Any], auth: Any, world: World, snapshot: Any
) -> None:
    before = snapshot()
    response = move(client, auth("tech_n1"), world.jobs["north_assigned"], "en_route", if_match='"77"')
    assert_problem(response, 412)
    assert snapshot() == before


def test_cancelling_needs_a_reason(client: TestClient[Any], auth: Any, world: World, snapshot: Any) -> None:
    before = snapshot()
    for reason in (None, ""):
        response = move(client, auth("disp_north"), world.jobs["north_open"], "cancelled", reason)
        assert_problem(response, 422, "reason")
    assert snapshot() == before


@pytest.mark.parametrize("who", ["disp_north", "admin"])
def test_the_office_cancels_with_a_reason_and_cancelled_is_final(
    client: TestClient[Any], auth: Any, world: World, who: str
) -> None:
    job_id = world.jobs["north_assigned"]
    response = move(client, auth(who), job_id, "cancelled", "customer fixed it themselves")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    events = client.get(f"/api/jobs/{job_id}/status-events", headers=auth(who)).json()
    assert (events[-1]["to_status"], events[-1]["reason"]) == ("cancelled", "customer fixed it themselves")
    for to in ("new", "scheduled", "reopened", "on_hold"):
        problem = assert_problem(move(client, auth("admin"), job_id, to, "try"), 409)
        assert problem["current_status"] == "cancelled"


def test_technicians_cannot_cancel_even_their_own_job(
    client: TestClient[Any], auth: Any, world: World, snapshot: Any
) -> None:
    before = snapshot()
    assert_problem(
        move(client, auth("tech_n1"), world.jobs["north_assigned"], "cancelled", "not worth it"), 403
    )
    assert snapshot() == before
    job = client.get(f"/api/jobs/{world.jobs['north_assigned']}", headers=auth("tech_n1")).json()
    assert job["status"] == "dispatched"


def test_an_illegal_move_is_409_naming_the_current_status(
    client: TestClient[Any], auth: Any, world: World, snapshot: Any
) -> None:
    before = snapshot()
    for job, to, current in (
        ("north_open", "completed", "new"),
        ("north_open", "dispatched", "new"),
        ("north_open", "in_progress", "new"),
        ("north_assigned", "new", "dispatched"),
        ("north_assigned", "closed", "dispatched"),
        ("north_assigned", "dispatched", "dispatched"),
    ):
        problem = assert_problem(move(client, auth("admin"), world.jobs[job], to, "because"), 409)
        assert problem["current_status"] == current, (job, to)
        assert current in problem["detail"]
    assert snapshot() == before


def test_scheduling_needs_an_assignment_and_a_triage(
    client: TestClient[Any], auth: Any, world: World, snapshot: Any
) -> None:
    before = snapshot()
    for job in ("north_open", "north_untriaged"):
        problem = assert_problem(move(client, auth("disp_north"), world.jobs[job], "scheduled"), 409)
        assert problem["current_status"] == "new"
    assert snapshot() == before


def test_putting_on_hold_needs_a_reason(client: TestClient[Any], auth: Any, world: World) -> None:
    job_id = world.jobs["north_assigned"]
    assert move(client, auth("tech_n1"), job_id, "en_route").status_code == 200
    assert_problem(move(client, auth("tech_n1"), job_id, "on_hold"), 422, "reason")
    held = move(client, auth("tech_n1"), job_id, "on_hold", "part missing")
    assert held.json()["status"] == "on_hold"


# Many dispatchers, one job ----------------------------------------------------------------------------------------


async def _dispatchers(sessionmaker: async_sessionmaker[AsyncSession], world: World, n: int) -> list[m.User]:
    password_hash = "never-used-to-log-in"  # tokens are signed directly
    async with sessionmaker() as s:
        s.info["actor"] = "test:setup"
        north = await s.get_one(m.Territory, world.territories["north"])
        users = [
            m.User(
                email=f"racer{i:02d}@example.com",
                full_name=f"Racer {i}",
                password_hash=password_hash,
                role=Role.DISPATCHER,
                territories=[north],
            )
            for i in range(n)
        ]
        s.add_all(users)
        await s.commit()
        return users


def test_twenty_dispatchers_racing_on_one_version_exactly_one_wins(
    settings: Settings, engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    n = 20
    app = create_app(settings, engine)
    tokens = [
        issue_token(app.state.jwt_auth, settings, u)
        for u in asyncio.run(_dispatchers(sessionmaker, world, n))
    ]
    job_id = world.jobs["north_untriaged"]
    priorities = ["low", "normal", "high", "urgent"]

    async def race() -> tuple[int, list[httpx.Response], httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://fieldwork") as http:
            read = await http.get(f"/api/jobs/{job_id}", headers={"Authorization": f"Bearer {tokens[0]}"})
            version = etag_version(read)
            responses = await asyncio.gather(
                *(
                    http.patch(
                        f"/api/jobs/{job_id}",
                        json={
                            "service_type_id": str(world.service_types["leak-repair"]),
                            "priority": priorities[i % 4],
                        },
                        headers={"Authorization": f"Bearer {token}", "If-Match": read.headers["etag"]},
                    )
                    for i, token in enumerate(tokens)
                )
            )
            final = await http.get(f"/api/jobs/{job_id}", headers={"Authorization": f"Bearer {tokens[0]}"})
            return version, list(responses), final

    version, responses, final = asyncio.run(race())
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 1, statuses
    assert statuses.count(412) == n - 1, statuses
    for r in responses:
        if r.status_code == 412:
            assert r.headers["content-type"].startswith("application/problem+json")
    winner = statuses.index(200)
    assert final.json()["version"] == etag_version(responses[winner]) > version
    assert final.json()["priority"] == priorities[winner % 4]
    assert final.json()["service_type_id"] == str(world.service_types["leak-repair"])

    async def chain() -> bool:
        async with sessionmaker() as s:
            rows = list(await s.scalars(sa.select(m.AuditEntry).order_by(m.AuditEntry.seq)))
            return verify_chain(rows, await s.get_one(m.AuditHead, 1)).ok

    assert asyncio.run(chain())
