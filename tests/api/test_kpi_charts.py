"""The KPI trend charts: the SVG drawn by api.kpi_charts (a point per week with a value, gaps, the target line at the
right height, units on the axis, nothing injected through a label), and GetKpiCharts over HTTP (same figures as
GetKpis, the same scoping, problems for bad queries)."""

from __future__ import annotations

import datetime as dt
import math
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

import pytest
from litestar.testing import TestClient

from api.kpi_charts import MAX_WEEK_LABELS, format_value, trend_chart
from domain import models as m
from domain.kpis.definitions import DEFINITIONS
from tests.api.database import Maker, in_db
from tests.conftest import World

SVG = "{http://www.w3.org/2000/svg}"
PROBLEM_JSON = "application/problem+json"
MONDAY = dt.date(2026, 9, 28)


def _weeks(count: int) -> list[dt.date]:
    return [MONDAY + dt.timedelta(weeks=i) for i in range(count)]


def _chart(values: Sequence[float | None], **given: Any) -> ET.Element:
    args: dict[str, Any] = {
        "key": "satisfaction",
        "label": "Satisfied customers",
        "unit": "share",
        "better": "higher",
        "target": 0.95,
        "weeks": _weeks(len(values)),
        "values": values,
    }
    return ET.fromstring(trend_chart(**(args | given)))


def _all(root: ET.Element, tag: str, cls: str | None = None) -> list[ET.Element]:
    found = root.iter(SVG + tag)
    return [e for e in found if cls is None or cls in (e.get("class") or "").split()]


def _texts(root: ET.Element, cls: str) -> list[str]:
    return [e.text or "" for e in _all(root, "text", cls)]


# The chart function -----------------------------------------------------------------------------------------------


def test_a_chart_is_an_accessible_svg_document_with_a_title_and_the_figures_in_words() -> None:
    root = _chart([0.9, 0.93, 0.96, 0.97])
    assert root.tag == SVG + "svg"
    assert root.get("role") == "img"
    title, desc = root[0], root[1]
    assert title.tag == SVG + "title"
    assert title.text == "Satisfied customers: weekly trend"
    assert desc.tag == SVG + "desc"
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    assert desc.text is not None
    assert "week of 28 Sep: 90% (missed)" in desc.text
    assert "week of 19 Oct: 97% (met)" in desc.text
    assert "Target ≥ 95%, higher is better" in desc.text


def test_a_point_per_week_with_a_value_and_a_gap_where_a_week_has_none() -> None:
    values: list[float | None] = [None, 0.9, 0.93, None, 0.96, math.nan, 0.99, None]
    root = _chart(values)
    points = _all(root, "circle", "point")
    weeks = _weeks(len(values))
    measured = [(w, v) for w, v in zip(weeks, values, strict=True) if v is not None and not math.isnan(v)]
    assert [(p.get("data-week"), float(p.get("data-value") or "nan")) for p in points] == [
        (w.isoformat(), v) for w, v in measured
    ]
    # One stroke per run of consecutive weeks: (0.9, 0.93), (0.96), (0.99).
    (line,) = _all(root, "path", "trend")
    moves = re.findall(r"([ML])[\d.]+,[\d.]+", line.get("d") or "")
    assert moves == ["M", "L", "M", "M"]
    # Left to right in week order, each at its own x.
    xs = [float(p.get("cx") or 0) for p in points]
    assert xs == sorted(xs)
    assert len(set(xs)) == len(xs)
    # Met and missed are told by the point's class and its tooltip, not by colour alone.
    assert [p.get("class") for p in points] == ["point missed", "point missed", "point met", "point met"]
    assert next(t.text for p in points for t in p.iter(SVG + "title")) == "week of 5 Oct: 90% (missed)"


@pytest.mark.parametrize(
    ("values", "target", "unit", "better"),
    [
        ([0.9, 0.93, 0.96, 0.97], 0.95, "share", "higher"),
        ([250.0, 400.0, 310.0, 280.0], 300.0, "seconds", "lower"),
        ([4.1, 4.3, 4.8, 4.6], 4.5, "score", "higher"),
        ([0.5, 0.5, 0.5], 0.02, "share", "lower"),
        ([100000.0, 300000.0], 259200.0, "seconds", "lower"),
    ],
)
def test_the_target_line_is_dashed_and_at_the_height_of_the_target_on_the_values_scale(
    values: list[float], target: float, unit: str, better: str
) -> None:
    root = _chart(values, target=target, unit=unit, better=better)
    (line,) = _all(root, "line", "target")
    assert line.get("stroke-dasharray")
    assert line.get("y1") == line.get("y2")
    target_y = float(line.get("y1") or 0)
    points = _all(root, "circle", "point")
    ys = [float(p.get("cy") or 0) for p in points]
    # The scale is linear and upside down (higher values higher up): find it from two points of different value.
    low, high = (
        min(range(len(values)), key=values.__getitem__),
        max(range(len(values)), key=values.__getitem__),
    )
    if values[low] == values[high]:
        assert (target_y < ys[0]) == (target > values[0])
        return
    slope = (ys[high] - ys[low]) / (values[high] - values[low])
    assert slope < 0
    assert target_y == pytest.approx(ys[low] + slope * (target - values[low]), abs=0.15)
    for y, v in zip(ys, values, strict=True):
        assert y == pytest.approx(ys[low] + slope * (v - values[low]), abs=0.15)
    # Everything drawn stays inside the picture.
    _, _, width, height = (float(n) for n in (root.get("viewBox") or "").split())
    assert all(0 <= y <= height for y in [*ys, target_y])
    assert all(0 <= float(p.get("cx") or 0) <= width for p in points)


def test_axis_labels_are_formatted_for_the_unit() -> None:
    share = _texts(_chart([0.9, 0.96]), "tick")
    assert share
    assert all(t.endswith("%") for t in share)
    assert all(0 <= float(t[:-1]) <= 100 for t in share)
    seconds = _texts(_chart([200.0, 900.0], unit="seconds", better="lower", target=300.0), "tick")
    assert seconds
    assert all(re.fullmatch(r"[\d.]+ (s|min)", t) for t in seconds)
    assert any(t.endswith("min") for t in seconds)
    hours = _texts(
        _chart([3 * 3600.0, 5 * 3600.0], unit="seconds", better="lower", target=4 * 3600.0), "tick"
    )
    assert hours
    assert all(re.fullmatch(r"[\d.]+ h", t) for t in hours)
    score = _texts(_chart([4.1, 4.7], unit="score", target=4.5), "tick")
    assert score
    assert all(re.fullmatch(r"[\d.]+", t) and 0 <= float(t) <= 5 for t in score)


def test_week_labels_name_the_mondays_and_thin_out_on_a_long_trend() -> None:
    assert _texts(_chart([0.9, 0.95]), "week") == ["28 Sep", "5 Oct"]
    long = _chart([0.9] * 52)
    labels = _texts(long, "week")
    assert 2 <= len(labels) <= MAX_WEEK_LABELS
    assert labels[-1] == "20 Sep"  # the latest week (2027-09-20) is always named
    assert len(_all(long, "circle", "point")) == 52


def test_nothing_is_injected_through_the_label_or_the_key() -> None:
    label = '</title><script>alert("x")</script><title>&amp; "quoted" \'single\''
    key = 'k"><script>alert(1)</script>'
    text = trend_chart(
        key=key, label=label, unit="share", better="higher", target=0.9, weeks=_weeks(2), values=[0.5, None]
    )
    root = ET.fromstring(text)
    assert "<script" not in text
    assert not [e for e in root.iter() if e.tag.endswith("script")]
    assert root[0].text == f"{label}: weekly trend"
    assert root.get("data-kpi") == key
    # The ids the label points at are plain names.
    assert re.fullmatch(r"[\w -]+", root.get("aria-labelledby") or "")


def test_a_trend_without_any_value_says_so_and_keeps_the_target() -> None:
    root = _chart([None, None, None])
    assert _all(root, "circle") == []
    assert _all(root, "path") == []
    assert _texts(root, "empty") == ["No data in these weeks"]
    assert len(_all(root, "line", "target")) == 1
    assert root[1].text is not None
    assert root[1].text.count("no data") == 3


def test_values_and_weeks_must_pair_up() -> None:
    with pytest.raises(ValueError, match="3 values for 2 weeks"):
        trend_chart(
            key="k", label="K", unit="share", better="higher", target=1, weeks=_weeks(2), values=[1, 1, 1]
        )


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (0.934, "share", "93.4%"),
        (0.95, "share", "95%"),
        (42.0, "seconds", "42 s"),
        (750.0, "seconds", "12.5 min"),
        (4 * 3600.0, "seconds", "4 h"),
        (3 * 86400.0, "seconds", "3 d"),
        (4.5, "score", "4.50"),
    ],
)
def test_values_are_shown_per_unit(value: float, unit: str, shown: str) -> None:
    assert format_value(value, unit) == shown


# GetKpiCharts over HTTP -------------------------------------------------------------------------------------------

TODAY = dt.datetime.now(dt.UTC).date()


def _rate(sessionmaker: Maker, world: World) -> None:
    """Three ratings: north this week (5) and two weeks ago (3), south this week (2)."""

    async def go(s: Any) -> None:
        now = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        for job, score, at in (
            ("north_assigned", 5, now),
            ("north_open", 3, now - dt.timedelta(days=14)),
            ("south_open", 2, now),
        ):
            territory = "north" if job.startswith("north") else "south"
            s.add(
                m.Rating(
                    job_id=world.jobs[job], customer_id=world.customers[territory], score=score, rated_at=at
                )
            )

    in_db(sessionmaker, go)


def _points(svg: str) -> dict[str, float]:
    return {
        p.get("data-week") or "": float(p.get("data-value") or "nan")
        for p in _all(ET.fromstring(svg), "circle")
    }


def test_charts_hold_each_kpi_of_getkpis_with_the_same_weekly_values(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: Maker
) -> None:
    _rate(sessionmaker, world)
    query = {"from": (TODAY - dt.timedelta(days=27)).isoformat(), "to": TODAY.isoformat(), "weeks": "4"}
    charts = client.get("/api/kpis/charts", params=query, headers=auth("admin"))
    assert charts.status_code == 200, charts.text
    report = client.get("/api/kpis", params=query, headers=auth("admin")).json()
    assert set(charts.json()) == {d.key for d in DEFINITIONS} == {k["key"] for k in report["kpis"]}
    for kpi in report["kpis"]:
        svg = charts.json()[kpi["key"]]
        root = ET.fromstring(svg)
        assert root[0].text == f"{kpi['label']}: weekly trend"
        expected = {w: v for w, v in zip(report["weeks"], kpi["trend"], strict=True) if v is not None}
        assert _points(svg) == pytest.approx(expected)
        (line,) = _all(root, "line", "target")
        assert float(line.get("data-value") or 0) == kpi["target"]
    satisfaction = _points(charts.json()["satisfaction"])
    assert len(satisfaction) == 2  # this week (5 and 2: one of two good) and two weeks ago (3: none)
    assert sorted(satisfaction.values()) == [0.0, 0.5]


def test_a_territory_filter_and_a_dispatchers_scope_change_the_points(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: Maker
) -> None:
    _rate(sessionmaker, world)
    south = {"territory_id": str(world.territories["south"]), "weeks": "4"}
    only_south = client.get("/api/kpis/charts", params=south, headers=auth("admin")).json()
    assert list(_points(only_south["satisfaction"]).values()) == [0.0]
    north = client.get("/api/kpis/charts", params={"weeks": 4}, headers=auth("disp_north")).json()
    assert sorted(_points(north["satisfaction"]).values()) == [0.0, 1.0]


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["detail"]
    return body


BAD_QUERIES: list[tuple[dict[str, Any], int]] = [
    ({"weeks": 0}, 400),
    ({"weeks": 53}, 400),
    ({"weeks": "many"}, 400),
    ({"from": "2026-13-01"}, 400),
    ({"to": "yesterday"}, 400),
    ({"territory_id": "north"}, 400),
    ({"from": "2026-03-10", "to": "2026-03-01"}, 422),
    ({"from": "2020-01-01", "to": "2026-01-01"}, 422),
    ({"service_type_id": str(uuid.UUID(int=7))}, 404),
    ({"technician_id": str(uuid.UUID(int=7))}, 404),
]


def test_a_bad_query_is_a_problem(client: TestClient[Any], auth: Any) -> None:
    # One world for every case: building it is most of a test's time.
    for params, status in BAD_QUERIES:
        body = _problem(client.get("/api/kpis/charts", params=params, headers=auth("admin")), status)
        assert body["status"] == status, params


def test_a_technician_is_refused_and_a_stranger_must_sign_in(client: TestClient[Any], auth: Any) -> None:
    _problem(client.get("/api/kpis/charts", headers=auth("tech_n1")), 403)
    _problem(client.get("/api/kpis/charts"), 401)


def test_a_dispatcher_cannot_chart_another_territory_or_its_technicians(
    client: TestClient[Any], auth: Any, world: World
) -> None:
    headers = auth("disp_north")
    south = {"territory_id": str(world.territories["south"])}
    _problem(client.get("/api/kpis/charts", params=south, headers=headers), 404)
    missing = {"territory_id": str(uuid.UUID(int=9))}
    assert (
        client.get("/api/kpis/charts", params=missing, headers=headers).json()["title"]
        == _problem(client.get("/api/kpis/charts", params=south, headers=headers), 404)["title"]
    )
    tech = {"technician_id": str(world.technicians["tech_s1"])}
    _problem(client.get("/api/kpis/charts", params=tech, headers=headers), 404)
    mine = {"territory_id": str(world.territories["north"])}
    assert client.get("/api/kpis/charts", params=mine, headers=headers).status_code == 200


def test_the_kpi_page_is_served_without_a_token_and_holds_no_figures(client: TestClient[Any]) -> None:
    page = client.get("/kpis")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'href="/board"' in page.text
    # No internet: nothing loaded from another origin.
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page.text)
    assert "@import" not in page.text
    assert "url(" not in page.text
    assert 'href="/kpis"' in client.get("/board").text
