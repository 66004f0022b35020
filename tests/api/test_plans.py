"""Plans through HTTP: ask, follow, review, edit, publish; the solver runs in a real worker process.

The world of conftest gets tomorrow's shifts (08:00-17:00 in Paris with a 45-minute lunch between 12:00 and
14:00) and a few more jobs in the north, so that a plan has routes worth editing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain import models as m
from domain.enums import Priority
from tests.api.published import validate_published
from tests.conftest import World

PARIS = ZoneInfo("Europe/Paris")
TOMORROW = dt.datetime.now(PARIS).date() + dt.timedelta(days=1)
PROBLEM = "application/problem+json"


def local(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(TOMORROW, dt.time(hour, minute), tzinfo=PARIS).astimezone(dt.UTC)


async def _add_day(sessionmaker: async_sessionmaker[AsyncSession], world: World) -> None:
    async with sessionmaker() as s:
        s.info["actor"] = "test:plans"
        for tech_id in world.technicians.values():
            s.add(
                m.Shift(
                    technician_id=tech_id,
                    starts_at=local(8),
                    ends_at=local(17),
                    breaks=[m.ShiftBreak(earliest_start=local(12), latest_end=local(14), duration_s=45 * 60)],
                )
            )
        # The world's windows are tomorrow in UTC; from 23:00 UTC (22:00 in summer) Paris is already a day ahead,
        # so they move to the same hours of tomorrow in Paris, the day every test here plans.
        for window in await s.scalars(
            sa.select(m.JobTimeWindow).where(m.JobTimeWindow.job_id.in_(list(world.jobs.values())))
        ):
            utc_start = window.starts_at.astimezone(dt.UTC)
            length = window.ends_at - window.starts_at
            window.starts_at = dt.datetime.combine(TOMORROW, utc_start.time(), tzinfo=dt.UTC)
            window.ends_at = window.starts_at + length
        leak = await s.get_one(m.ServiceType, world.service_types["leak-repair"])
        for k, (lat, lon) in enumerate(((45.784, 4.83), (45.79, 4.85), (45.775, 4.86), (45.77, 4.82))):
            site = m.Site(
                id=uuid.uuid4(),
                customer_id=world.customers["north"],
                territory_id=world.territories["north"],
                address=f"{k + 2} Rue du Nord, Lyon",
                latitude=lat,
                longitude=lon,
            )
            s.add(site)
            await s.flush()
            job = m.Job(
                id=uuid.uuid4(),
                customer_id=world.customers["north"],
                site_id=site.id,
                territory_id=world.territories["north"],
                service_type_id=leak.id,
                priority=Priority.HIGH if k == 0 else Priority.NORMAL,
                description=f"extra leak {k}",
                duration_s=3600,
                respond_by=local(20),
                resolve_by=local(22),
                required_skills=[
                    m.JobRequiredSkill(skill_id=sk.skill_id, min_level=sk.min_level) for sk in leak.skills
                ],
                time_windows=[m.JobTimeWindow(starts_at=local(8 + 2 * k), ends_at=local(13 + k))],
            )
            s.add(job)
            world.jobs[f"extra_{k}"] = job.id
        await s.commit()


@pytest.fixture
def day(world: World, sessionmaker: async_sessionmaker[AsyncSession]) -> World:
    asyncio.run(_add_day(sessionmaker, world))
    return world


def ask(client: TestClient[Any], headers: dict[str, str], territory: uuid.UUID, **extra: Any) -> Any:
    body = {"territory_id": str(territory), "day": TOMORROW.isoformat(), "time_limit_s": 0.5, **extra}
    return client.post("/api/plans", json=body, headers=headers)


def ready(
    client: TestClient[Any], headers: dict[str, str], plan_id: str, within: float = 60
) -> dict[str, Any]:
    give_up = time.monotonic() + within
    while time.monotonic() < give_up:
        plan: dict[str, Any] = client.get(f"/api/plans/{plan_id}", headers=headers).json()
        if plan["state"] not in ("queued", "running"):
            return plan
        time.sleep(0.2)
    raise AssertionError(f"plan {plan_id} still solving after {within} s")


def planned(client: TestClient[Any], headers: dict[str, str], world: World) -> dict[str, Any]:
    response = ask(client, headers, world.territories["north"])
    assert response.status_code == 202, response.text
    plan = ready(client, headers, response.json()["id"])
    assert plan["state"] == "ready", plan
    return plan


def route_of(plan: dict[str, Any], technician: uuid.UUID) -> list[str]:
    return next(
        ([s["job_id"] for s in r["stops"]] for r in plan["routes"] if r["technician_id"] == str(technician)),
        [],
    )


def test_a_plan_is_queued_at_once_then_solved_with_progress_and_ready_for_review(
    client: TestClient[Any], auth: Any, day: World
) -> None:
    headers = auth("disp_north")
    started = time.monotonic()
    response = ask(client, headers, day.territories["north"])
    assert response.status_code == 202
    assert time.monotonic() - started < 5
    assert response.json()["state"] == "queued"
    plan = ready(client, headers, response.json()["id"])
    assert plan["state"] == "ready"
    assert plan["progress"]["assigned"] == plan["totals"]["assigned"]
    # Every north job that plumbing can do is planned; the untriaged one waits for triage.
    assert plan["totals"]["assigned"] == 6
    assert str(day.jobs["north_untriaged"]) in plan["set_aside"]
    # The dispatched job stays with its technician; the electrician gets no plumbing.
    assert str(day.jobs["north_assigned"]) in route_of(plan, day.technicians["tech_n1"])
    assert route_of(plan, day.technicians["tech_n2"]) == []
    stops = [s for r in plan["routes"] for s in r["stops"]]
    assert all(s["start"] >= s["arrival"] and s["end"] > s["start"] for s in stops)
    assert {c["change"] for c in plan["changes"]} == {"new"}
    assert plan["objective"]["total"] > 0


def test_the_routes_as_geojson_have_a_line_per_route_and_a_point_per_stop(
    client: TestClient[Any], auth: Any, day: World
) -> None:
    headers = auth("disp_north")
    plan = planned(client, headers, day)
    response = client.get(f"/api/plans/{plan['id']}/geojson", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/geo+json")
    features = response.json()["features"]
    lines = [f for f in features if f["geometry"]["type"] == "LineString"]
    points = [f for f in features if f["properties"]["kind"] == "stop"]
    assert len(lines) == len(plan["routes"])
    assert len(points) == plan["totals"]["assigned"]
    longitude, latitude = points[0]["geometry"]["coordinates"]
    assert 4.7 < longitude < 4.9
    assert 45.7 < latitude < 45.8


def test_a_full_pool_answers_429_with_retry_after_and_stores_nothing(
    client: TestClient[Any], auth: Any, day: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    headers = auth("disp_north")
    first = ask(client, headers, day.territories["north"], time_limit_s=3)
    assert first.status_code == 202
    second = ask(client, headers, day.territories["north"])
    assert second.status_code == 429
    assert second.headers["content-type"].startswith(PROBLEM)
    assert int(second.headers["retry-after"]) >= 1
    assert _count(sessionmaker, m.Plan) == 1
    ready(client, headers, first.json()["id"])


def test_cancelling_a_solving_plan_stops_it(client: TestClient[Any], auth: Any, day: World) -> None:
    headers = auth("disp_north")
    plan_id = ask(client, headers, day.territories["north"], time_limit_s=30).json()["id"]
    response = client.post(f"/api/plans/{plan_id}/cancel", headers=headers)
    assert response.status_code == 200
    assert response.json()["state"] == "cancelled"
    time.sleep(1.5)
    assert client.get(f"/api/plans/{plan_id}", headers=headers).json()["state"] == "cancelled"
    # The worker is free again.
    assert ask(client, headers, day.territories["north"]).status_code == 202
    again = client.post(f"/api/plans/{plan_id}/cancel", headers=headers)
    assert again.status_code == 409


def test_plans_are_scoped_to_the_dispatcher_s_territories(
    client: TestClient[Any], auth: Any, day: World
) -> None:
    plan = planned(client, auth("disp_north"), day)
    south = auth("disp_south")
    assert client.get(f"/api/plans/{plan['id']}", headers=south).status_code == 404
    assert client.get(f"/api/plans/{plan['id']}/geojson", headers=south).status_code == 404
    assert client.post(f"/api/plans/{plan['id']}/cancel", headers=south).status_code == 404
    assert ask(client, south, day.territories["north"]).status_code == 422
    assert client.get("/api/plans", headers=south).json() == []
    technician = auth("tech_n1")
    assert client.get(f"/api/plans/{plan['id']}", headers=technician).status_code in (403, 404)
    assert ask(client, technician, day.territories["north"]).status_code in (403, 404)


@pytest.mark.parametrize(
    "body",
    [
        {"day": "tomorrow"},
        {"days": 0},
        {"days": 8},
        {"time_limit_s": 0},
        {"time_limit_s": 10_000},
        {"surprise": True},
        {"territory_id": "not-a-uuid"},
    ],
)
def test_bad_plan_requests_are_400_problems_and_store_nothing(
    client: TestClient[Any],
    auth: Any,
    day: World,
    body: dict[str, Any],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    response = ask(client, auth("disp_north"), day.territories["north"], **body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert _count(sessionmaker, m.Plan) == 0


def test_a_move_that_breaks_a_skill_rule_is_refused_with_the_rule_and_changes_nothing(
    client: TestClient[Any], auth: Any, day: World
) -> None:
    headers = auth("disp_north")
    plan = planned(client, headers, day)
    job = str(day.jobs["north_open"])
    response = client.post(
        f"/api/plans/{plan['id']}/edits",
        json={"action": "move", "job_id": job, "technician_id": str(day.technicians["tech_n2"])},
        headers={**headers, "If-Match": f'"{plan["version"]}"'},
    )
    assert response.status_code == 409
    assert response.headers["content-type"].startswith(PROBLEM)
    assert [v["rule"] for v in response.json()["violations"]] == ["skills"]
    after = client.get(f"/api/plans/{plan['id']}", headers=headers).json()
    assert after["version"] == plan["version"]
    assert after["routes"] == plan["routes"]


def test_moving_a_job_within_a_route_recomputes_the_times(
    client: TestClient[Any], auth: Any, day: World
) -> None:
    headers = auth("disp_north")
    plan = planned(client, headers, day)
    route = next(r for r in plan["routes"] if len(r["stops"]) >= 2)
    last = route["stops"][-1]["job_id"]
    response = client.post(
        f"/api/plans/{plan['id']}/edits",
        json={"action": "move", "job_id": last, "technician_id": route["technician_id"], "position": 0},
        headers={**headers, "If-Match": f'"{plan["version"]}"'},
    )
    if response.status_code == 409:  # the first visit's window may not allow it: then the rule is named
        assert response.json()["violations"][0]["rule"] in {"window", "shift"}
        return
    assert response.status_code == 200, response.text
    edited = response.json()
    assert edited["version"] == plan["version"] + 1
    assert route_of(edited, uuid.UUID(route["technician_id"]))[0] == last


def test_unassigning_lists_the_job_with_a_reason_and_a_stale_version_is_412(
    client: TestClient[Any], auth: Any, day: World
) -> None:
    headers = auth("disp_north")
    plan = planned(client, headers, day)
    job = str(day.jobs["north_open"])
    edit = {"action": "unassign", "job_id": job}
    response = client.post(
        f"/api/plans/{plan['id']}/edits", json=edit, headers={**headers, "If-Match": f'"{plan["version"]}"'}
    )
    assert response.status_code == 200, response.text
    assert job in {u["job_id"] for u in response.json()["unassigned"]}
    stale = client.post(
        f"/api/plans/{plan['id']}/edits", json=edit, headers={**headers, "If-Match": f'"{plan["version"]}"'}
    )
    assert stale.status_code == 412
    missing = client.post(f"/api/plans/{plan['id']}/edits", json=edit, headers=headers)
    assert missing.status_code == 428


@pytest.mark.parametrize(
    "edit",
    [
        {"action": "teleport", "job_id": str(uuid.uuid4())},
        {"action": "move", "job_id": str(uuid.uuid4())},
        {"action": "unassign", "job_id": str(uuid.uuid4()), "extra": 1},
        {"action": "move", "job_id": str(uuid.uuid4()), "technician_id": str(uuid.uuid4()), "position": -1},
    ],
)
def test_malformed_edits_are_400(
    client: TestClient[Any], auth: Any, day: World, edit: dict[str, Any]
) -> None:
    headers = auth("disp_north")
    plan = planned(client, headers, day)
    response = client.post(
        f"/api/plans/{plan['id']}/edits", json=edit, headers={**headers, "If-Match": f'"{plan["version"]}"'}
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(PROBLEM)


def test_edits_naming_jobs_or_technicians_outside_the_plan_are_refused(
    client: TestClient[Any], auth: Any, day: World
) -> None:
    headers = auth("disp_north")
    plan = planned(client, headers, day)
    if_match = {**headers, "If-Match": f'"{plan["version"]}"'}
    stranger = client.post(
        f"/api/plans/{plan['id']}/edits",
        json={"action": "unassign", "job_id": str(uuid.uuid4())},
        headers=if_match,
    )
    assert stranger.status_code == 409
    assert stranger.json()["violations"][0]["rule"] == "unknown"
    south_tech = client.post(
        f"/api/plans/{plan['id']}/edits",
        json={
            "action": "move",
            "job_id": str(day.jobs["north_open"]),
            "technician_id": str(day.technicians["tech_s1"]),
        },
        headers=if_match,
    )
    assert south_tech.status_code == 422


def test_reoptimizing_keeps_a_pinned_job_where_the_dispatcher_put_it(
    client: TestClient[Any], auth: Any, day: World
) -> None:
    headers = auth("disp_north")
    plan = planned(client, headers, day)
    job = str(day.jobs["extra_3"])
    holder = next(r["technician_id"] for r in plan["routes"] if job in [s["job_id"] for s in r["stops"]])
    pinned = client.post(
        f"/api/plans/{plan['id']}/edits",
        json={"action": "pin", "job_id": job},
        headers={**headers, "If-Match": f'"{plan["version"]}"'},
    )
    assert pinned.status_code == 200, pinned.text
    assert any(s["pinned"] for r in pinned.json()["routes"] for s in r["stops"] if s["job_id"] == job)
    response = client.post(f"/api/plans/{plan['id']}/reoptimize", json={"time_limit_s": 1}, headers=headers)
    assert response.status_code == 202, response.text
    again = ready(client, headers, response.json()["id"])
    assert job in route_of(again, uuid.UUID(holder))


def test_publishing_writes_the_day_dispatches_the_work_and_tells_each_technician_once(
    client: TestClient[Any], auth: Any, day: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    headers = auth("disp_north")
    plan = planned(client, headers, day)
    assert client.post(f"/api/plans/{plan['id']}/publish", headers=headers).status_code == 428
    stale = client.post(f"/api/plans/{plan['id']}/publish", headers={**headers, "If-Match": '"99"'})
    assert stale.status_code == 412
    response = client.post(
        f"/api/plans/{plan['id']}/publish", headers={**headers, "If-Match": f'"{plan["version"]}"'}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["plan"]["state"] == "published"
    assert body["plan"]["changes"] == []
    technicians_with_work = {r["technician_id"] for r in plan["routes"]}
    assert body["notifications_queued"] == len(technicians_with_work)
    # The technician's own list shows their day in the planned order.
    mine = client.get("/api/jobs", headers=auth("tech_n1")).json()["items"]
    ordered = sorted(mine, key=lambda j: j["assignment"]["planned_start"])
    assert [j["id"] for j in ordered] == route_of(plan, day.technicians["tech_n1"])
    assert all(j["status"] == "dispatched" for j in mine)
    messages = _messages(sessionmaker)
    assert len(messages) == len(technicians_with_work)
    first = messages[str(day.technicians["tech_n1"])]
    assert first["stops"][0]["customer_phone"]
    assert first["stops"][0]["tools"] == ["Pipe cutter"]
    # Publishing again changes nothing and tells no one twice.
    again = client.post(
        f"/api/plans/{plan['id']}/publish", headers={**headers, "If-Match": response.headers["etag"]}
    )
    assert again.status_code == 200
    assert again.json()["notifications_queued"] == 0
    assert len(_messages(sessionmaker)) == len(technicians_with_work)
    # The published assignments, read back from the database, keep every hard rule.
    assert asyncio.run(_validate_published(sessionmaker, uuid.UUID(plan["id"]))) == []


def test_a_later_publication_supersedes_the_earlier_one(
    client: TestClient[Any], auth: Any, day: World
) -> None:
    headers = auth("disp_north")
    first = planned(client, headers, day)
    client.post(f"/api/plans/{first['id']}/publish", headers={**headers, "If-Match": f'"{first["version"]}"'})
    second = planned(client, headers, day)
    assert second["base_plan_id"] == first["id"]
    assert second["changes"] == [] or all(c["change"] == "moved" for c in second["changes"])
    published = client.post(
        f"/api/plans/{second['id']}/publish", headers={**headers, "If-Match": f'"{second["version"]}"'}
    )
    assert published.status_code == 200
    assert client.get(f"/api/plans/{first['id']}", headers=headers).json()["state"] == "superseded"
    edit = client.post(
        f"/api/plans/{first['id']}/edits",
        json={"action": "unassign", "job_id": str(day.jobs["north_open"])},
        headers={**headers, "If-Match": f'"{first["version"] + 1}"'},
    )
    assert edit.status_code in (409, 412)


# --- helpers ----------------------------------------------------------------------------------------------------


def _count(sessionmaker: async_sessionmaker[AsyncSession], model: Any) -> int:
    async def run() -> int:
        async with sessionmaker() as s:
            return int(await s.scalar(sa.select(sa.func.count()).select_from(model)) or 0)

    return asyncio.run(run())


def _messages(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, dict[str, Any]]:
    async def run() -> dict[str, dict[str, Any]]:
        async with sessionmaker() as s:
            rows = (await s.scalars(sa.select(m.OutboxMessage))).all()
            return {str(r.technician_id): r.body for r in rows}

    return asyncio.run(run())


async def _validate_published(
    sessionmaker: async_sessionmaker[AsyncSession], plan_id: uuid.UUID
) -> list[Any]:
    return await validate_published(sessionmaker, plan_id)


def test_pinning_a_job_to_another_technician_moves_it_there_and_keeps_it_on_re_optimizing(
    client: TestClient[Any], auth: Any, day: World
) -> None:
    headers = auth("disp_north")
    plan = planned(client, headers, day)
    job = str(day.jobs["extra_0"])
    # tech_s1 is a plumber of the south: out of this plan. tech_n1 is the only plumber here, so pin it to them.
    response = client.post(
        f"/api/plans/{plan['id']}/edits",
        json={
            "action": "pin",
            "job_id": job,
            "technician_id": str(day.technicians["tech_n1"]),
            "position": 0,
        },
        headers={**headers, "If-Match": f'"{plan["version"]}"'},
    )
    assert response.status_code == 200, response.text
    assert route_of(response.json(), day.technicians["tech_n1"])[0] == job
    refused = client.post(
        f"/api/plans/{plan['id']}/edits",
        json={"action": "pin", "job_id": job, "technician_id": str(day.technicians["tech_n2"])},
        headers={**headers, "If-Match": f'"{response.json()["version"]}"'},
    )
    assert refused.status_code == 409
    assert {v["rule"] for v in refused.json()["violations"]} >= {"skills"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/reoptimize", {"time_limit_s": 0}),
        ("post", "/reoptimize", {"time_limit_s": 5, "keep": "pins"}),
        ("get", "?day=someday", None),
    ],
)
def test_other_malformed_plan_requests_are_400(
    client: TestClient[Any], auth: Any, day: World, method: str, path: str, body: Any
) -> None:
    headers = auth("disp_north")
    plan = planned(client, headers, day)
    url = f"/api/plans/{plan['id']}{path}" if path.startswith("/") else f"/api/plans{path}"
    response = (
        client.post(url, json=body, headers=headers) if method == "post" else client.get(url, headers=headers)
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
