"""Re-planning during the day through HTTP: an emergency inserted, a technician off sick, a job that overruns.

Today's world is built around the present moment, so the tests hold at any hour: tech_n1 and a second plumber,
tech_n3, work from two hours ago to eight hours from now; tech_n1 is on site at `running` (started half an hour
ago) with `next` dispatched after it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain import models as m
from domain.enums import JobStatus, Priority
from tests.api.test_plans import PROBLEM, ready, route_of
from tests.conftest import World

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


async def _today(sessionmaker: async_sessionmaker[AsyncSession], world: World) -> None:
    async with sessionmaker() as s:
        s.info["actor"] = "test:replanning"
        # Re-planning works on today in the territory's time zone. In a zone where it is about noon now, the
        # shifts below (from two hours ago to eight hours ahead) lie inside that day at any hour of the UTC day.
        east = 12 - NOW.hour
        territory = await s.get_one(m.Territory, world.territories["north"])
        territory.timezone = f"Etc/GMT{-east:+d}" if east else "Etc/GMT"
        # The world's own work is for tomorrow in UTC, which that day may reach: it moves two days on.
        later = dt.timedelta(days=2)
        for window in await s.scalars(sa.select(m.JobTimeWindow)):
            window.starts_at, window.ends_at = window.starts_at + later, window.ends_at + later
        for assignment in await s.scalars(sa.select(m.Assignment)):
            if assignment.planned_start is not None:
                assignment.planned_start += later
        leak = await s.get_one(m.ServiceType, world.service_types["leak-repair"])
        tech = m.Technician(
            id=uuid.uuid4(),
            name="tech_n3",
            email="tech_n3@example.com",
            territory_id=world.territories["north"],
            home_latitude=45.76,
            home_longitude=4.83,
            skills=[m.TechnicianSkill(skill_id=world.skills["plumbing"], level=3)],
        )
        s.add(tech)
        await s.flush()
        world.technicians["tech_n3"] = tech.id
        for tech_id in (world.technicians["tech_n1"], tech.id):
            s.add(
                m.Shift(
                    technician_id=tech_id,
                    starts_at=NOW - dt.timedelta(hours=2),
                    ends_at=NOW + dt.timedelta(hours=8),
                )
            )

        def job(name: str, status: JobStatus, window_h: float | None, resolve_h: float) -> m.Job:
            made = m.Job(
                id=uuid.uuid4(),
                customer_id=world.customers["north"],
                site_id=world.sites["north"],
                territory_id=world.territories["north"],
                service_type_id=leak.id,
                status=status,
                priority=Priority.NORMAL,
                description=name,
                duration_s=3600,
                respond_by=NOW + dt.timedelta(hours=1),
                resolve_by=NOW + dt.timedelta(hours=resolve_h),
                required_skills=[
                    m.JobRequiredSkill(skill_id=k.skill_id, min_level=k.min_level) for k in leak.skills
                ],
                time_windows=[]
                if window_h is None
                else [m.JobTimeWindow(starts_at=NOW, ends_at=NOW + dt.timedelta(hours=window_h))],
            )
            s.add(made)
            world.jobs[name] = made.id
            return made

        running = job("running", JobStatus.IN_PROGRESS, None, 2)
        following = job("next", JobStatus.DISPATCHED, 4, 3)
        job("emergency", JobStatus.NEW, 6, 6)
        # Needs an electrician, and none works today: it cannot simply be slotted in.
        wired = job("electrical_emergency", JobStatus.NEW, 6, 6)
        wired.required_skills = [m.JobRequiredSkill(skill_id=world.skills["electrical"], min_level=3)]
        await s.flush()
        s.add(
            m.Assignment(
                job_id=running.id,
                technician_id=world.technicians["tech_n1"],
                sequence=0,
                planned_start=NOW - dt.timedelta(minutes=30),
            )
        )
        s.add(
            m.Assignment(
                job_id=following.id,
                technician_id=world.technicians["tech_n1"],
                sequence=1,
                planned_start=NOW + dt.timedelta(minutes=40),
            )
        )
        s.add(
            m.JobStatusEvent(
                job_id=running.id,
                from_status=JobStatus.EN_ROUTE,
                to_status=JobStatus.ON_SITE,
                occurred_at=NOW - dt.timedelta(minutes=30),
            )
        )
        await s.commit()


@pytest.fixture
def today(world: World, sessionmaker: async_sessionmaker[AsyncSession]) -> World:
    asyncio.run(_today(sessionmaker, world))
    return world


def test_an_emergency_goes_into_a_route_without_moving_anyone_else_s_work(
    client: TestClient[Any], auth: Any, today: World
) -> None:
    headers = auth("disp_north")
    response = client.post(
        "/api/plans/emergency", json={"job_id": str(today.jobs["emergency"])}, headers=headers
    )
    assert response.status_code == 201, response.text
    plan = response.json()
    assert plan["kind"] == "emergency"
    assert plan["state"] == "ready"
    routed = {s["job_id"] for r in plan["routes"] for s in r["stops"]}
    assert str(today.jobs["emergency"]) in routed
    assert [c["change"] for c in plan["changes"]] == ["new"]
    # Nothing starts before now: the day that has passed is not re-written.
    stop = next(s for r in plan["routes"] for s in r["stops"] if s["job_id"] == str(today.jobs["emergency"]))
    assert dt.datetime.fromisoformat(stop["start"]) >= NOW - dt.timedelta(seconds=5)


def test_an_emergency_that_fits_no_route_as_it_stands_is_solved_again_and_explained(
    client: TestClient[Any], auth: Any, today: World
) -> None:
    headers = auth("disp_north")
    job = str(today.jobs["electrical_emergency"])
    response = client.post("/api/plans/emergency", json={"job_id": job, "time_limit_s": 0.5}, headers=headers)
    assert response.status_code == 202, response.text
    plan = ready(client, headers, response.json()["id"])
    assert plan["kind"] == "emergency"
    left = {u["job_id"]: u["reasons"] for u in plan["unassigned"]}
    assert "skill" in " ".join(left[job])


def test_a_technician_off_sick_has_their_remaining_work_planned_across_the_others(
    client: TestClient[Any], auth: Any, today: World
) -> None:
    headers = auth("disp_north")
    response = client.post(
        "/api/plans/absence",
        json={"technician_id": str(today.technicians["tech_n1"]), "time_limit_s": 1},
        headers=headers,
    )
    assert response.status_code == 202, response.text
    plan = ready(client, headers, response.json()["id"])
    assert plan["kind"] == "absence"
    assert str(today.jobs["next"]) in route_of(plan, today.technicians["tech_n3"])
    assert route_of(plan, today.technicians["tech_n1"]) == []
    # The job under way stays with the technician who is on site: set aside, not moved.
    assert str(today.jobs["running"]) in plan["set_aside"]
    assert {"job_id": str(today.jobs["next"]), "change": "moved"}.items() <= next(
        c for c in plan["changes"] if c["job_id"] == str(today.jobs["next"])
    ).items()


def test_an_overrun_pushes_the_next_visit_back_and_flags_its_sla(
    client: TestClient[Any], auth: Any, today: World
) -> None:
    headers = auth("disp_north")
    end = NOW + dt.timedelta(hours=2, minutes=30)
    response = client.post(
        "/api/plans/overrun",
        json={"job_id": str(today.jobs["running"]), "expected_end": end.isoformat()},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    plan = response.json()
    assert plan["kind"] == "overrun"
    stops = {s["job_id"]: s for r in plan["routes"] for s in r["stops"]}
    assert dt.datetime.fromisoformat(stops[str(today.jobs["running"])]["end"]) == end
    assert dt.datetime.fromisoformat(stops[str(today.jobs["next"])]["start"]) >= end
    # Both now end after their resolve-by deadlines (two hours for the running job, three for the next).
    assert {r["job_id"] for r in plan["sla_risks"]} == {str(today.jobs["running"]), str(today.jobs["next"])}


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/plans/emergency", {"job_id": "nope"}, 400),
        ("/api/plans/emergency", {"job_id": str(uuid.uuid4())}, 422),
        ("/api/plans/absence", {"technician_id": str(uuid.uuid4())}, 422),
        ("/api/plans/absence", {"technician_id": str(uuid.uuid4()), "why": "flu"}, 400),
        ("/api/plans/overrun", {"job_id": str(uuid.uuid4()), "expected_end": "2030-01-01T00:00:00"}, 400),
        ("/api/plans/overrun", {"job_id": str(uuid.uuid4()), "expected_end": "2030-01-01T00:00:00Z"}, 422),
    ],
)
def test_bad_re_plan_requests_are_problems(
    client: TestClient[Any], auth: Any, today: World, path: str, body: dict[str, Any], status: int
) -> None:
    response = client.post(path, json=body, headers=auth("disp_north"))
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)


def test_re_plans_refuse_jobs_in_the_wrong_state_and_other_territories(
    client: TestClient[Any], auth: Any, today: World
) -> None:
    north, south = auth("disp_north"), auth("disp_south")
    assert (
        client.post(
            "/api/plans/emergency", json={"job_id": str(today.jobs["running"])}, headers=north
        ).status_code
        == 409
    )
    overrun = {"job_id": str(today.jobs["next"]), "expected_end": (NOW + dt.timedelta(hours=1)).isoformat()}
    assert client.post("/api/plans/overrun", json=overrun, headers=north).status_code == 409
    past = {"job_id": str(today.jobs["running"]), "expected_end": (NOW - dt.timedelta(hours=1)).isoformat()}
    assert client.post("/api/plans/overrun", json=past, headers=north).status_code == 422
    assert (
        client.post(
            "/api/plans/emergency", json={"job_id": str(today.jobs["emergency"])}, headers=south
        ).status_code
        == 422
    )
    absent = {"technician_id": str(today.technicians["tech_n1"])}
    assert client.post("/api/plans/absence", json=absent, headers=south).status_code == 422
