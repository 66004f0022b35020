"""A stage for the sync property tests: one app over the test database, and a fresh cast per example (two
technicians, their jobs, the office), so examples never see each other's rows."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from api.app import create_app
from api.auth import issue_token
from api.settings import Settings
from domain import models as m
from domain.db import create_engine
from domain.enums import JobStatus, Priority, Role
from domain.session import AuditedSession
from tests.conftest import _empty


@dataclass
class Cast:
    technicians: list[uuid.UUID]
    tokens: list[str]
    office: dict[str, str]
    jobs: list[uuid.UUID]


class Stage:
    def __init__(self, engine: AsyncEngine, client: TestClient[Any], settings: Settings, root: Path) -> None:
        self.engine, self.client, self.settings, self.root = engine, client, settings, root
        self.maker = async_sessionmaker(engine, expire_on_commit=False, sync_session_class=AuditedSession)
        self.territory, self.service_type, self.skill = asyncio.run(self._reference())
        self.loop = asyncio.new_event_loop()

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    async def _reference(self) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
        async with self.maker() as s:
            territory = m.Territory(code="stage", name="Stage", center_latitude=45.7, center_longitude=4.8)
            skill = m.Skill(code="plumbing", name="Plumbing")
            s.add_all([territory, skill])
            await s.flush()
            stype = m.ServiceType(
                code="repair",
                name="Repair",
                default_duration_s=3600,
                default_priority=Priority.NORMAL,
                checklist=["Tested"],
                skills=[m.ServiceTypeSkill(skill_id=skill.id, min_level=1)],
            )
            s.add(stype)
            await s.commit()
            return territory.id, stype.id, skill.id

    def cast(self, jobs: int = 3) -> Cast:
        return self.run(self._cast(jobs))  # type: ignore[no-any-return]

    async def _cast(self, job_count: int) -> Cast:
        tag = uuid.uuid4().hex[:8]
        async with self.maker() as s:
            s.info["actor"] = "test:stage"
            technicians = [
                m.Technician(
                    name=f"tech {tag} {i}",
                    territory_id=self.territory,
                    home_latitude=45.7,
                    home_longitude=4.8,
                    skills=[m.TechnicianSkill(skill_id=self.skill, level=3)],
                )
                for i in range(2)
            ]
            s.add_all(technicians)
            await s.flush()
            users = [
                m.User(
                    email=f"{tag}.{i}@example.com",
                    full_name=f"tech {i}",
                    password_hash="-",
                    role=Role.TECHNICIAN,
                    technician_id=t.id,
                )
                for i, t in enumerate(technicians)
            ]
            territory = await s.get_one(m.Territory, self.territory)
            office = m.User(
                email=f"{tag}.office@example.com",
                full_name="office",
                password_hash="-",
                role=Role.DISPATCHER,
                territories=[territory],
            )
            customer = m.Customer(name=f"customer {tag}")
            s.add_all([*users, office, customer])
            await s.flush()
            site = m.Site(
                customer_id=customer.id,
                territory_id=self.territory,
                address="1 Rue X",
                latitude=45.7,
                longitude=4.8,
            )
            s.add(site)
            await s.flush()
            now = dt.datetime.now(dt.UTC)
            jobs = []
            for i in range(job_count):
                job = m.Job(
                    customer_id=customer.id,
                    site_id=site.id,
                    territory_id=self.territory,
                    service_type_id=self.service_type,
                    status=JobStatus.DISPATCHED,
                    priority=Priority.NORMAL,
                    description=f"job {i}",
                    duration_s=3600,
                    respond_by=now + dt.timedelta(hours=4),
                    resolve_by=now + dt.timedelta(hours=24),
                    checklist=["Tested"],
                    required_skills=[m.JobRequiredSkill(skill_id=self.skill, min_level=1)],
                )
                s.add(job)
                await s.flush()
                s.add(
                    m.Assignment(
                        job_id=job.id,
                        technician_id=technicians[0].id,
                        planned_start=now + dt.timedelta(hours=i),
                    )
                )
                jobs.append(job.id)
            await s.commit()
        tokens = [issue_token(self.client.app.state.jwt_auth, self.settings, u) for u in users]
        office_token = issue_token(self.client.app.state.jwt_auth, self.settings, office)
        return Cast([t.id for t in technicians], tokens, {"Authorization": f"Bearer {office_token}"}, jobs)

    def close(self) -> None:
        self.loop.close()


def open_stage(database_url: str, root: Path) -> Iterator[Stage]:
    # The test's own reads run on loops of their own: no pool, so no connection outlives its loop.
    engine = create_engine(database_url, poolclass=sa.pool.NullPool)
    asyncio.run(_empty(engine))
    settings = Settings(database_url=database_url, data_dir=root, jwt_secret="stage-" + "x" * 40)
    # The app lives on the test client's loop for the whole module: a pool spares a connection per request.
    app = create_app(settings)
    with TestClient(app=app, raise_server_exceptions=False) as client:
        stage = Stage(engine, client, settings, root)
        try:
            yield stage
        finally:
            stage.close()
    asyncio.run(engine.dispose())
