"""What the office does to a technician's jobs while the phone is offline, through the real API."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain import models as m
from tests.conftest import World


def cancel(client: TestClient[Any], headers: dict[str, str], job_id: uuid.UUID) -> None:
    answer = client.post(
        f"/api/jobs/{job_id}/transitions",
        json={"to_status": "cancelled", "reason": "customer cancelled"},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text


def reassign(
    client: TestClient[Any], headers: dict[str, str], job_id: uuid.UUID, technician_id: uuid.UUID
) -> None:
    """Put the job on hold, give it to another technician, dispatch it again."""
    answer = client.post(
        f"/api/jobs/{job_id}/transitions",
        json={"to_status": "on_hold", "reason": "reassigning"},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    answer = client.put(
        f"/api/jobs/{job_id}/assignment", json={"technician_id": str(technician_id)}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    answer = client.post(f"/api/jobs/{job_id}/transitions", json={"to_status": "dispatched"}, headers=headers)
    assert answer.status_code == 200, answer.text


def give_skill(
    maker: async_sessionmaker[AsyncSession], world: World, technician: str, skill: str, level: int
) -> None:
    async def run() -> None:
        async with maker() as s:
            s.add(
                m.TechnicianSkill(
                    technician_id=world.technicians[technician], skill_id=world.skills[skill], level=level
                )
            )
            await s.commit()

    asyncio.run(run())


def exceptions(client: TestClient[Any], headers: dict[str, str]) -> list[dict[str, Any]]:
    answer = client.get("/api/sync-exceptions", headers=headers)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def report(client: TestClient[Any], headers: dict[str, str], job_id: uuid.UUID) -> dict[str, Any]:
    answer = client.get(f"/api/jobs/{job_id}/field-report", headers=headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())
