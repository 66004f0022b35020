"""Every published route keeps every hard rule, read back from the stored assignments and checked by the
scheduler's own validator: on the demo operation (all three territories, tomorrow) and on generated territories."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain import models as m
from domain.demo import DEMO_PASSWORD
from domain.enums import Priority, Role
from domain.passwords import hash_password
from tests.api.published import validate_published
from tests.api.test_plans import ready
from tests.conftest import seed_demo

PARIS = ZoneInfo("Europe/Paris")
TOMORROW = dt.datetime.now(PARIS).date() + dt.timedelta(days=1)


def login(client: TestClient[Any], email: str) -> dict[str, str]:
    response = client.post("/api/auth/token", json={"username": email, "password": DEMO_PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def plan_and_publish(client: TestClient[Any], headers: dict[str, str], territory: str) -> str:
    asked = client.post(
        "/api/plans",
        json={"territory_id": territory, "day": TOMORROW.isoformat(), "time_limit_s": 1},
        headers=headers,
    )
    assert asked.status_code == 202, asked.text
    plan = ready(client, headers, asked.json()["id"])
    assert plan["state"] == "ready", plan
    published = client.post(
        f"/api/plans/{plan['id']}/publish", headers={**headers, "If-Match": f'"{plan["version"]}"'}
    )
    assert published.status_code == 200, published.text
    return str(plan["id"])


def test_the_demo_s_published_days_keep_every_rule(
    client: TestClient[Any],
    database_url: str,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    seed_demo(database_url, engine)
    headers = login(client, "dispatcher@example.com")
    territories = client.get("/api/territories", headers=headers).json()
    assert len(territories) == 3
    for territory in territories:
        plan_id = plan_and_publish(client, headers, territory["id"])
        assert asyncio.run(validate_published(sessionmaker, uuid.UUID(plan_id))) == []


async def _generated(sessionmaker: async_sessionmaker[AsyncSession], seed: int) -> uuid.UUID:
    """A territory of 6 to 12 technicians with one to three of four skills, and 30 to 70 jobs tomorrow needing one
    skill at level 1 or 2 inside a 2- to 4-hour window, scattered over 10 km."""
    rng = random.Random(seed)
    skills = ("gas", "plumbing", "electrical", "hvac")

    def at(hour: float) -> dt.datetime:
        return dt.datetime.combine(TOMORROW, dt.time(0), tzinfo=PARIS).astimezone(dt.UTC) + dt.timedelta(
            hours=hour
        )

    def near() -> tuple[float, float]:
        return 45.76 + rng.uniform(-0.045, 0.045), 4.84 + rng.uniform(-0.065, 0.065)

    async with sessionmaker() as s:
        s.info["actor"] = "test:generated"
        territory = m.Territory(
            id=uuid.uuid4(),
            code=f"gen-{seed}",
            name=f"Generated {seed}",
            timezone="Europe/Paris",
            center_latitude=45.76,
            center_longitude=4.84,
        )
        known = {k: m.Skill(id=uuid.uuid4(), code=f"{k}-{seed}", name=k) for k in skills}
        s.add_all([territory, *known.values()])
        customer = m.Customer(id=uuid.uuid4(), name=f"Generated customer {seed}")
        s.add(customer)
        await s.flush()
        s.add(
            m.User(
                email=f"gen-{seed}@example.com",
                full_name="Generated",
                password_hash=hash_password(DEMO_PASSWORD),
                role=Role.DISPATCHER,
                territories=[territory],
            )
        )
        for k in range(rng.randint(6, 12)):
            lat, lon = near()
            tech = m.Technician(
                id=uuid.uuid4(),
                name=f"gen {seed} tech {k}",
                territory_id=territory.id,
                home_latitude=lat,
                home_longitude=lon,
                skills=[
                    m.TechnicianSkill(skill_id=known[x].id, level=rng.randint(1, 3))
                    for x in rng.sample(skills, rng.randint(1, 3))
                ],
            )
            s.add(tech)
            await s.flush()
            start = rng.choice((7, 8, 9))
            s.add(
                m.Shift(
                    technician_id=tech.id,
                    starts_at=at(start),
                    ends_at=at(start + 8),
                    breaks=[m.ShiftBreak(earliest_start=at(12), latest_end=at(14), duration_s=1800)],
                )
            )
        for k in range(rng.randint(30, 70)):
            lat, lon = near()
            site = m.Site(
                id=uuid.uuid4(),
                customer_id=customer.id,
                territory_id=territory.id,
                address=f"{k} Generated Street",
                latitude=lat,
                longitude=lon,
            )
            s.add(site)
            await s.flush()
            opens = rng.choice((8, 9, 10, 11, 13, 14))
            s.add(
                m.Job(
                    id=uuid.uuid4(),
                    customer_id=customer.id,
                    site_id=site.id,
                    territory_id=territory.id,
                    service_type_id=await _any_type(s, seed),
                    priority=rng.choice(list(Priority)),
                    description=f"generated {k}",
                    duration_s=rng.choice((1800, 2700, 3600, 5400)),
                    respond_by=at(20),
                    resolve_by=at(rng.choice((14, 30))),
                    required_skills=[
                        m.JobRequiredSkill(skill_id=known[rng.choice(skills)].id, min_level=rng.randint(1, 2))
                    ],
                    time_windows=[
                        m.JobTimeWindow(starts_at=at(opens), ends_at=at(opens + rng.choice((2, 3, 4))))
                    ],
                )
            )
        await s.commit()
        return territory.id


async def _any_type(s: AsyncSession, seed: int) -> uuid.UUID:
    """A service type for generated work (its own skills do not matter: the job carries its needs)."""
    found = await s.scalar(sa.select(m.ServiceType.id).where(m.ServiceType.code == f"generated-{seed}"))
    if found is not None:
        return found
    kind = m.ServiceType(
        id=uuid.uuid4(),
        code=f"generated-{seed}",
        name="Generated work",
        default_duration_s=3600,
        default_priority=Priority.NORMAL,
    )
    s.add(kind)
    await s.flush()
    return kind.id


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_published_days_of_generated_territories_keep_every_rule(
    client: TestClient[Any], sessionmaker: async_sessionmaker[AsyncSession], seed: int
) -> None:
    territory = asyncio.run(_generated(sessionmaker, seed))
    headers = login(client, f"gen-{seed}@example.com")
    plan_id = plan_and_publish(client, headers, str(territory))
    assert asyncio.run(validate_published(sessionmaker, uuid.UUID(plan_id))) == []
