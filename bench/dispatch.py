"""Dispatch benchmark (issue 4): plan time for the demo territory, slot grading p99 and emergency insertion time.

Everything goes through the HTTP API of the app (Litestar's test client, in process, on a fresh SQLite file), with
the solver in its worker process as in production:

1. Demo territory: the demo seed, then `CreatePlan` for lyon-north tomorrow with a 5 s limit: the answer time of
   the request (202) and the time until the plan is ready.
2. A territory of 30 technicians (shifts from an hour ago to nine hours from now, a 30-minute break) and 400 jobs
   with 2-hour windows today: planned for 10 s and published (about 300 assigned), then `ListJobSlots` for 40 new
   jobs, each asked 5 times (200 requests): p50, p99 and max. Target: p99 under 300 ms.
3. `InsertEmergencyJob` for 20 new urgent jobs (window: the next three hours), one after the other on the same
   published day: p50 and max. Run it before 20:00 UTC: the territory's day is today in UTC and its shifts run
   nine hours from now.

    .venv/bin/python bench/dispatch.py            # prints a markdown table, writes bench/results/dispatch-*.json
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import sqlalchemy as sa  # noqa: E402
from litestar.testing import TestClient  # noqa: E402
from sqlalchemy.ext.asyncio import async_sessionmaker  # noqa: E402

from api import cli  # noqa: E402
from api.app import create_app  # noqa: E402
from api.settings import Settings  # noqa: E402
from domain import migrate  # noqa: E402
from domain import models as m  # noqa: E402
from domain.db import create_engine  # noqa: E402
from domain.demo import DEMO_PASSWORD  # noqa: E402
from domain.enums import Priority, Role  # noqa: E402
from domain.passwords import hash_password  # noqa: E402
from domain.session import AuditedSession  # noqa: E402

RESULTS = REPO / "bench" / "results"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
CENTRE = (45.76, 4.84)


def login(client: TestClient[Any], email: str) -> dict[str, str]:
    token = client.post("/api/auth/token", json={"username": email, "password": DEMO_PASSWORD}).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def wait_ready(client: TestClient[Any], headers: dict[str, str], plan_id: str) -> dict[str, Any]:
    while True:
        plan: dict[str, Any] = client.get(f"/api/plans/{plan_id}", headers=headers).json()
        if plan["state"] not in ("queued", "running"):
            return plan
        time.sleep(0.05)


def app_for(url: str, data: Path) -> Any:
    settings = Settings(
        database_url=url, data_dir=data, jwt_secret="bench-" + "x" * 40, login_attempts_per_minute=10_000
    )
    return create_app(settings, create_engine(url, poolclass=sa.pool.NullPool))


def demo_plan(work: Path) -> dict[str, float]:
    url = f"sqlite:///{work / 'demo.db'}"
    migrate.upgrade(url)
    assert cli.main(["--database-url", url, "seed"]) == 0
    with TestClient(app=app_for(url, work)) as client:
        headers = login(client, "dispatcher-north@example.com")
        north = next(
            t["id"]
            for t in client.get("/api/territories", headers=headers).json()
            if t["code"] == "lyon-north"
        )
        tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
        started = time.perf_counter()
        answer = client.post(
            "/api/plans", json={"territory_id": north, "day": tomorrow, "time_limit_s": 5}, headers=headers
        )
        answered = time.perf_counter() - started
        plan = wait_ready(client, headers, answer.json()["id"])
        ready = time.perf_counter() - started
    return {
        "answer_s": answered,
        "ready_s": ready,
        "jobs": plan["totals"]["assigned"] + plan["totals"]["unassigned"],
        "assigned": plan["totals"]["assigned"],
        "technicians": len(plan["routes"]),
    }


async def big_territory(url: str, technicians: int, jobs: int) -> dict[str, uuid.UUID]:
    """A territory around Lyon with `technicians` plumbers working now and `jobs` leak jobs today."""
    rng = random.Random(4)
    maker = async_sessionmaker(create_engine(url), expire_on_commit=False, sync_session_class=AuditedSession)
    async with maker() as s:
        s.info["actor"] = "bench"
        territory = m.Territory(
            id=uuid.uuid4(), code="bench", name="Bench", center_latitude=CENTRE[0], center_longitude=CENTRE[1]
        )
        skill = m.Skill(id=uuid.uuid4(), code="plumbing", name="Plumbing")
        s.add_all([territory, skill])
        await s.flush()
        s.add(
            m.User(
                email="dispatcher-bench@example.com",
                full_name="Bench",
                password_hash=hash_password(DEMO_PASSWORD),
                role=Role.DISPATCHER,
                territories=[territory],
            )
        )
        kind = m.ServiceType(
            id=uuid.uuid4(),
            code="leak",
            name="Leak",
            default_duration_s=2700,
            default_priority=Priority.NORMAL,
            skills=[m.ServiceTypeSkill(skill_id=skill.id, min_level=1)],
        )
        customer = m.Customer(id=uuid.uuid4(), name="Bench customer", phone="+33600000000")
        s.add_all([kind, customer])
        await s.flush()

        def near() -> tuple[float, float]:
            return CENTRE[0] + rng.uniform(-0.05, 0.05), CENTRE[1] + rng.uniform(-0.07, 0.07)

        for k in range(technicians):
            lat, lon = near()
            tech = m.Technician(
                id=uuid.uuid4(),
                name=f"Tech {k:02d}",
                territory_id=territory.id,
                home_latitude=lat,
                home_longitude=lon,
                skills=[m.TechnicianSkill(skill_id=skill.id, level=2)],
            )
            s.add(tech)
            await s.flush()
            s.add(
                m.Shift(
                    technician_id=tech.id,
                    starts_at=NOW - dt.timedelta(hours=1),
                    ends_at=NOW + dt.timedelta(hours=9),
                    breaks=[
                        m.ShiftBreak(
                            earliest_start=NOW + dt.timedelta(hours=3),
                            latest_end=NOW + dt.timedelta(hours=5),
                            duration_s=1800,
                        )
                    ],
                )
            )
        await s.commit()
        ids = {"territory": territory.id, "skill": skill.id, "kind": kind.id, "customer": customer.id}
    await add_jobs(url, ids, jobs, seed=5)
    return ids


async def add_jobs(
    url: str, ids: dict[str, uuid.UUID], count: int, *, seed: int, urgent: bool = False
) -> list[uuid.UUID]:
    """`count` new leak jobs with a 2-hour window opening at some half hour of the next seven hours, or, `urgent`,
    a window from now to three hours from now."""
    rng = random.Random(seed)
    maker = async_sessionmaker(create_engine(url), expire_on_commit=False, sync_session_class=AuditedSession)
    made = []
    async with maker() as s:
        s.info["actor"] = "bench"
        for k in range(count):
            lat, lon = CENTRE[0] + rng.uniform(-0.05, 0.05), CENTRE[1] + rng.uniform(-0.07, 0.07)
            site = m.Site(
                id=uuid.uuid4(),
                customer_id=ids["customer"],
                territory_id=ids["territory"],
                address=f"{k} Rue du Banc, Lyon",
                latitude=lat,
                longitude=lon,
            )
            s.add(site)
            await s.flush()
            opens = NOW + dt.timedelta(minutes=30 * rng.randrange(0, 14))
            closes = opens + dt.timedelta(hours=2)
            if urgent:
                opens, closes = NOW, NOW + dt.timedelta(hours=3)
            job = m.Job(
                id=uuid.uuid4(),
                customer_id=ids["customer"],
                site_id=site.id,
                territory_id=ids["territory"],
                service_type_id=ids["kind"],
                priority=Priority.NORMAL,
                description=f"bench job {k}",
                duration_s=rng.choice((1800, 2400, 2700)),
                respond_by=NOW + dt.timedelta(hours=12),
                resolve_by=NOW + dt.timedelta(hours=24),
                required_skills=[m.JobRequiredSkill(skill_id=ids["skill"], min_level=1)],
                time_windows=[m.JobTimeWindow(starts_at=opens, ends_at=closes)],
            )
            s.add(job)
            made.append(job.id)
        await s.commit()
    return made


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def busy_day(work: Path) -> dict[str, Any]:
    url = f"sqlite:///{work / 'big.db'}"
    migrate.upgrade(url)
    ids = asyncio.run(big_territory(url, technicians=30, jobs=400))
    with TestClient(app=app_for(url, work)) as client:
        headers = login(client, "dispatcher-bench@example.com")
        territory = str(ids["territory"])
        today = NOW.date().isoformat()
        answer = client.post(
            "/api/plans", json={"territory_id": territory, "day": today, "time_limit_s": 10}, headers=headers
        )
        plan = wait_ready(client, headers, answer.json()["id"])
        published = client.post(
            f"/api/plans/{plan['id']}/publish", headers={**headers, "If-Match": f'"{plan["version"]}"'}
        )
        assert published.status_code == 200, published.text
        planned = plan["totals"]["assigned"]
        # New requests after the day was published: these are the jobs the customers are offered slots for.
        extra = asyncio.run(add_jobs(url, ids, 40, seed=6))
        urgent = asyncio.run(add_jobs(url, ids, 20, seed=7, urgent=True))
        timings: list[float] = []
        offered = 0
        for job in extra[:40]:
            for _ in range(5):
                started = time.perf_counter()
                response = client.get(f"/api/jobs/{job}/slots", params={"day": today}, headers=headers)
                timings.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.text
                offered += sum(1 for s in response.json() if s["feasible"])
        emergencies: list[float] = []
        inserted = queued = 0
        for job in urgent:
            started = time.perf_counter()
            response = client.post(
                "/api/plans/emergency", json={"job_id": str(job), "time_limit_s": 2}, headers=headers
            )
            emergencies.append((time.perf_counter() - started) * 1000)
            assert response.status_code in (201, 202), response.text
            if response.status_code == 201:
                inserted += 1
            else:
                queued += 1
                wait_ready(client, headers, response.json()["id"])
    return {
        "planned_jobs": planned,
        "slot_requests": len(timings),
        "slot_p50_ms": statistics.median(timings),
        "slot_p99_ms": percentile(timings, 0.99),
        "slot_max_ms": max(timings),
        "feasible_slots_offered": offered,
        "emergency_requests": len(emergencies),
        "emergency_p50_ms": statistics.median(emergencies),
        "emergency_max_ms": max(emergencies),
        "emergency_inserted": inserted,
        "emergency_queued": queued,
    }


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        demo = demo_plan(work)
        busy = busy_day(work)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
    ).stdout.strip()
    record = {
        "commit": commit,
        "machine": platform.platform(),
        "when": NOW.isoformat(),
        "demo": demo,
        "busy": busy,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"dispatch-{NOW:%Y%m%dT%H%M%SZ}.json").write_text(json.dumps(record, indent=2))
    print("| measure | value | target |")
    print("|---|---|---|")
    print(f"| demo lyon-north tomorrow: CreatePlan answered | {demo['answer_s'] * 1000:.0f} ms | at once |")
    print(
        f"| demo lyon-north tomorrow: plan ready (5 s limit) | {demo['ready_s']:.2f} s "
        f"({demo['assigned']}/{demo['jobs']} jobs, {demo['technicians']} technicians) | |"
    )
    print(
        f"| ListJobSlots, 30 technicians, {busy['planned_jobs']} planned jobs ({busy['slot_requests']} requests) | "
        f"p50 {busy['slot_p50_ms']:.0f} ms, p99 {busy['slot_p99_ms']:.0f} ms, max {busy['slot_max_ms']:.0f} ms | p99 < 300 ms |"
    )
    print(
        f"| InsertEmergencyJob on that day ({busy['emergency_requests']} in a row) | "
        f"p50 {busy['emergency_p50_ms']:.0f} ms, max {busy['emergency_max_ms']:.0f} ms "
        f"({busy['emergency_inserted']} inserted at once, {busy['emergency_queued']} solved) | |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
