"""Appointment slots through HTTP: offered best first against the day as it stands, booked once when two customers
want the last room."""

from __future__ import annotations

import asyncio
import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain import models as m
from tests.api.test_plans import PROBLEM, TOMORROW, day, local  # noqa: F401 - `day`: tomorrow's shifts
from tests.conftest import World


def slots(client: TestClient[Any], headers: dict[str, str], job: Any) -> list[dict[str, Any]]:
    response = client.get(f"/api/jobs/{job}/slots", params={"day": TOMORROW.isoformat()}, headers=headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def book(
    client: TestClient[Any], headers: dict[str, str], job: Any, start: dt.datetime, end: dt.datetime
) -> Any:
    body = {"starts_at": start.isoformat(), "ends_at": end.isoformat()}
    return client.post(f"/api/jobs/{job}/slots/booking", json=body, headers=headers)


def test_slots_are_two_hour_windows_inside_the_customer_s_graded_cheapest_first(
    client: TestClient[Any],
    auth: Any,
    day: World,  # noqa: F811
) -> None:
    offered = slots(client, auth("disp_north"), day.jobs["north_open"])
    assert len(offered) == 2
    assert all(s["feasible"] for s in offered)
    assert [s["cost_s"] for s in offered] == sorted(s["cost_s"] for s in offered)
    # Only tech_n1 holds plumbing in the north.
    assert {s["technician_id"] for s in offered} == {str(day.technicians["tech_n1"])}
    for s in offered:
        assert dt.datetime.fromisoformat(s["ends_at"]) - dt.datetime.fromisoformat(
            s["starts_at"]
        ) == dt.timedelta(hours=2)
        assert s["starts_at"] <= s["planned_start"] <= s["ends_at"]


def test_booking_confirms_the_appointment_and_reserves_the_technician(
    client: TestClient[Any],
    auth: Any,
    day: World,  # noqa: F811
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    headers = auth("disp_north")
    chosen = slots(client, headers, day.jobs["north_open"])[0]
    response = book(
        client,
        headers,
        day.jobs["north_open"],
        dt.datetime.fromisoformat(chosen["starts_at"]),
        dt.datetime.fromisoformat(chosen["ends_at"]),
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "scheduled"
    job = client.get(f"/api/jobs/{day.jobs['north_open']}", headers=headers).json()
    assert job["assignment"]["technician_id"] == str(day.technicians["tech_n1"])

    async def confirmed() -> list[m.Appointment]:
        async with sessionmaker() as s:
            return list((await s.scalars(sa.select(m.Appointment))).all())

    (appointment,) = asyncio.run(confirmed())
    assert appointment.status == "confirmed"
    assert appointment.window_start == dt.datetime.fromisoformat(chosen["starts_at"])


async def _tight_day(sessionmaker: async_sessionmaker[AsyncSession], world: World) -> None:
    """tech_n1's day ends at 11:45 with no break: after the dispatched 09:00 visit, room for one more hour."""
    async with sessionmaker() as s:
        s.info["actor"] = "test:slots"
        shift = await s.scalar(
            sa.select(m.Shift).where(m.Shift.technician_id == world.technicians["tech_n1"])
        )
        assert shift is not None
        for rest in list(shift.breaks):
            await s.delete(rest)
        shift.ends_at = local(11, 45)
        await s.commit()


def test_two_customers_after_the_last_room_get_one_booking_and_one_refusal_with_fresh_slots(
    client: TestClient[Any],
    auth: Any,
    day: World,  # noqa: F811
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    asyncio.run(_tight_day(sessionmaker, day))
    headers = auth("disp_north")
    wanted = [day.jobs["north_open"], day.jobs["extra_0"]]
    assert all(any(s["feasible"] for s in slots(client, headers, job)) for job in wanted)
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda job: book(client, headers, job, local(9), local(11)), wanted))
    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 409], [a.text for a in answers]
    refused = next(a for a in answers if a.status_code == 409)
    assert refused.headers["content-type"].startswith(PROBLEM)
    assert isinstance(refused.json()["slots"], list)
    assert all(s["feasible"] for s in refused.json()["slots"])


@pytest.mark.parametrize(
    "body",
    [
        {"starts_at": "2026-11-24T09:00:00"},
        {"starts_at": "2026-11-24T09:00:00", "ends_at": "2026-11-24T11:00:00"},
        {"starts_at": "soon", "ends_at": "later"},
        {"starts_at": "2026-11-24T09:00:00Z", "ends_at": "2026-11-24T11:00:00Z", "technician_id": "x"},
    ],
)
def test_malformed_bookings_are_400(
    client: TestClient[Any],
    auth: Any,
    day: World,  # noqa: F811
    body: dict[str, Any],
) -> None:
    response = client.post(
        f"/api/jobs/{day.jobs['north_open']}/slots/booking", json=body, headers=auth("disp_north")
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(PROBLEM)


def test_slots_are_scoped_like_jobs(client: TestClient[Any], auth: Any, day: World) -> None:  # noqa: F811
    south = auth("disp_south")
    assert client.get(f"/api/jobs/{day.jobs['north_open']}/slots", headers=south).status_code == 404
    response = book(client, south, day.jobs["north_open"], local(9), local(11))
    assert response.status_code == 404
    assert client.get(f"/api/jobs/{day.jobs['north_open']}/slots", headers=auth("tech_n1")).status_code == 403
    inverted = book(client, auth("disp_north"), day.jobs["north_open"], local(11), local(9))
    assert inverted.status_code == 422
    untriaged = client.get(f"/api/jobs/{day.jobs['north_untriaged']}/slots", headers=auth("disp_north"))
    assert untriaged.status_code == 409


@pytest.mark.parametrize("query", [{"days": 0}, {"days": 8}, {"day": "monday"}])
def test_malformed_slot_queries_are_400(
    client: TestClient[Any],
    auth: Any,
    day: World,  # noqa: F811
    query: dict[str, Any],
) -> None:
    response = client.get(
        f"/api/jobs/{day.jobs['north_open']}/slots", params=query, headers=auth("disp_north")
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
