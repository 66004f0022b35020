"""GetKpis, ExportKpis and the KPI settings over HTTP: who sees what, bad input, and the export matching the report.

The rules behind each figure are checked against hand-computed answers in tests/domain/test_kpis.py; here a rating
in each territory is enough to tell whose figures a report holds."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain import models as m
from tests.api.database import in_db
from tests.conftest import World

PROBLEM = "application/problem+json"
NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
def rated(world: World, sessionmaker: async_sessionmaker[AsyncSession]) -> World:
    """North's job rated 5 and south's rated 2, an hour ago."""

    async def rate(s: AsyncSession) -> None:
        for job, customer, score in (("north_assigned", "north", 5), ("south_open", "south", 2)):
            s.add(
                m.Rating(
                    job_id=world.jobs[job],
                    customer_id=world.customers[customer],
                    score=score,
                    rated_at=NOW - dt.timedelta(hours=1),
                )
            )

    in_db(sessionmaker, rate)
    return world


def _kpi(report: dict[str, Any], key: str) -> dict[str, Any]:
    return next(k for k in report["kpis"] if k["key"] == key)


def test_an_admin_sees_every_territory_and_a_dispatcher_only_theirs(
    rated: World, client: TestClient[Any], auth: Any
) -> None:
    everyone = client.get("/api/kpis", headers=auth("admin"))
    assert everyone.status_code == 200, everyone.text
    satisfaction = _kpi(everyone.json(), "satisfaction")
    assert (satisfaction["value"], satisfaction["sample"]) == (0.5, 2)  # one of the two ratings is 4 or 5
    assert _kpi(everyone.json(), "satisfaction_mean")["value"] == (5 + 2) / 2

    north = client.get("/api/kpis", headers=auth("disp_north")).json()
    assert (_kpi(north, "satisfaction")["value"], _kpi(north, "satisfaction")["sample"]) == (1.0, 1)
    assert [t["code"] for t in north["territories"]] == ["north"]

    south = client.get("/api/kpis", headers=auth("disp_south")).json()
    assert _kpi(south, "satisfaction_mean")["value"] == 2
    assert _kpi(south, "satisfaction")["met"] is False


def test_every_kpi_comes_with_its_target_and_a_trend_per_week(
    rated: World, client: TestClient[Any], auth: Any
) -> None:
    report = client.get("/api/kpis", headers=auth("admin"), params={"weeks": 3}).json()
    assert len(report["weeks"]) == 3
    assert [dt.date.fromisoformat(w).weekday() for w in report["weeks"]] == [0, 0, 0]  # Mondays
    keys = [k["key"] for k in report["kpis"]]
    assert len(keys) == 13
    assert len(set(keys)) == 13
    for k in report["kpis"]:
        assert len(k["trend"]) == 3
        assert k["target"] is not None
    # Nothing completed, no complaint: no value rather than a made-up zero.
    assert _kpi(report, "complaint_resolution")["value"] is None
    assert _kpi(report, "first_time_fix")["met"] is None
    # The week of today holds both ratings.
    assert _kpi(report, "satisfaction")["trend"][-1] == 0.5


def test_worst_territories_come_first(rated: World, client: TestClient[Any], auth: Any) -> None:
    report = client.get("/api/kpis", headers=auth("admin")).json()
    codes = [t["code"] for t in report["territories"]]
    assert codes == ["south", "north"]
    assert "satisfaction" in report["territories"][0]["missed"]
    assert "satisfaction" not in report["territories"][1]["missed"]


def test_filters_narrow_and_out_of_scope_is_404(rated: World, client: TestClient[Any], auth: Any) -> None:
    w = rated
    one = client.get("/api/kpis", headers=auth("admin"), params={"territory_id": str(w.territories["south"])})
    assert _kpi(one.json(), "satisfaction")["sample"] == 1
    by_type = client.get(
        "/api/kpis", headers=auth("admin"), params={"service_type_id": str(w.service_types["leak-repair"])}
    ).json()
    assert _kpi(by_type, "satisfaction_mean")["value"] == 5
    assert _kpi(by_type, "utilization")["value"] is None  # shift time has no service type

    for params in (
        {"territory_id": str(w.territories["south"])},
        {"technician_id": str(w.technicians["tech_s1"])},
        {"territory_id": str(uuid.uuid4())},
        {"service_type_id": str(uuid.uuid4())},
    ):
        response = client.get("/api/kpis", headers=auth("disp_north"), params=params)
        assert response.status_code == 404, params
        assert response.headers["content-type"].startswith(PROBLEM)


@pytest.mark.parametrize("who", ["tech_n1", None])
def test_technicians_and_strangers_get_no_kpis(
    world: World, client: TestClient[Any], auth: Any, who: str | None
) -> None:
    headers = auth(who) if who else {}
    for path in ("/api/kpis", "/api/kpis/export", "/api/kpis/settings"):
        assert client.get(path, headers=headers).status_code == (403 if who else 401)


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"from": "2026-13-01"}, 400),
        ({"to": "yesterday"}, 400),
        ({"from": "2026-11-10", "to": "2026-11-01"}, 422),
        ({"from": "2020-01-01", "to": "2026-01-01"}, 422),
        ({"weeks": 0}, 400),
        ({"weeks": 53}, 400),
        ({"territory_id": "north"}, 400),
        ({"format": "xml"}, 400),
    ],
)
def test_bad_queries_are_problems(
    world: World, client: TestClient[Any], auth: Any, params: dict[str, Any], status: int
) -> None:
    path = "/api/kpis/export" if "format" in params else "/api/kpis"
    response = client.get(path, headers=auth("admin"), params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["detail"]


def test_the_csv_and_json_exports_hold_the_report_s_figures(
    rated: World, client: TestClient[Any], auth: Any
) -> None:
    params: dict[str, str | int] = {
        "from": (NOW - dt.timedelta(days=6)).date().isoformat(),
        "to": (NOW + dt.timedelta(days=1)).date().isoformat(),
        "weeks": 2,
    }
    report = client.get("/api/kpis", headers=auth("admin"), params=params).json()

    exported = client.get("/api/kpis/export", headers=auth("admin"), params={**params, "format": "json"})
    assert exported.status_code == 200
    assert "attachment" in exported.headers["content-disposition"]
    assert [k["value"] for k in exported.json()["kpis"]] == [k["value"] for k in report["kpis"]]

    response = client.get("/api/kpis/export", headers=auth("admin"), params=params)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert f"kpis-{params['from']}-{params['to']}.csv" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    period = {r["kpi"]: r for r in rows if r["scope"] == "period"}
    assert period.keys() == {k["key"] for k in report["kpis"]}
    assert float(period["satisfaction"]["value"]) == 0.5
    assert period["satisfaction"]["met"] == "no"
    assert period["complaint_resolution"]["value"] == ""  # nothing measured is empty, not 0
    assert len([r for r in rows if r["scope"] == "week"]) == 2 * 13
    territories = {r["group"] for r in rows if r["scope"] == "territory"}
    assert len(territories) == 2


def test_settings_change_targets_and_rates_and_bad_changes_write_nothing(
    rated: World, client: TestClient[Any], auth: Any
) -> None:
    admin = auth("admin")
    before = client.get("/api/kpis/settings", headers=admin).json()
    assert before["targets"]["satisfaction"] == 0.95
    assert before["default_targets"]["first_time_fix"] == 0.98

    for body, status in (
        ({"targets": {"satisfaction": 1.5}}, 422),
        ({"targets": {"no_such_kpi": 1}}, 422),
        ({"targets": {"satisfaction_mean": 6}}, 422),
        ({"labour_rate_cents_per_hour": -1}, 400),
        ({"first_fix_window_days": 0}, 400),
        ({"currency": "euro"}, 400),
        ({"targets": {"satisfaction": 0.4}, "is_admin": True}, 400),
    ):
        response = client.patch("/api/kpis/settings", headers=admin, json=body)
        assert response.status_code == status, body
        assert response.headers["content-type"].startswith(PROBLEM)
    assert client.get("/api/kpis/settings", headers=admin).json() == before

    refused = client.patch(
        "/api/kpis/settings", headers=auth("disp_north"), json={"targets": {"satisfaction": 0.4}}
    )
    assert refused.status_code == 403

    changed = client.patch("/api/kpis/settings", headers=admin, json={"targets": {"satisfaction": 0.4}})
    assert changed.status_code == 200
    assert changed.json()["targets"]["satisfaction"] == 0.4
    report = client.get("/api/kpis", headers=admin).json()
    assert (_kpi(report, "satisfaction")["target"], _kpi(report, "satisfaction")["met"]) == (0.4, True)

    reset = client.patch("/api/kpis/settings", headers=admin, json={"targets": {"satisfaction": None}})
    assert reset.json()["targets"]["satisfaction"] == 0.95
