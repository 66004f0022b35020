"""The KPI page in headless Chromium against a real server on the demo (with its weeks of history): sign in, a
tile per KPI with its value, target and trend chart, the worst territories and service types, the open warnings
(acknowledge one), the CSV and JSON exports holding the tiles' figures, the territory filter, a phone's width, and
the way to the board and back. One test: each server start seeds the demo, which costs seconds."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from api import cli
from domain.demo import DEMO_PASSWORD, TIMEZONE
from domain.services import kpi_settings
from tests.e2e.browser import launch, needs_chromium

pytestmark = needs_chromium
# The demo's dispatcher for the whole city: every territory is theirs.
DISPATCHER = "dispatcher@example.com"
READY = "body[data-state=ready]"


@pytest.fixture
def server_env() -> dict[str, str]:
    # The warnings are evaluated once by the test, so what the page lists cannot change under it.
    return {"FIELDWORK_WARNINGS_WATCH": "0"}


async def _as_deployed(engine: AsyncEngine, is_postgres: bool) -> None:
    # The KPI settings row that the migration writes: the test database is emptied table by table before the demo is
    # seeded, and without the row the page's first two requests would both create it (one then waits on SQLite's
    # write lock for as long as the other computes its report).
    async with async_sessionmaker(engine)() as session:
        await kpi_settings.current(session)
        await session.commit()
    if is_postgres:
        # The demo's history is bulk-loaded just before: until autovacuum analyzes the tables, PostgreSQL plans
        # the KPI queries without statistics and GetKpis takes seconds instead of a fraction of one.
        async with engine.begin() as conn:
            await conn.execute(sa.text("ANALYZE"))


@pytest.fixture
def evaluated(server: str, database_url: str, engine: AsyncEngine, is_postgres: bool) -> str:
    """The served demo as a deployment has it, with its early warnings evaluated once (before Chromium: its driver
    runs an event loop of its own)."""
    asyncio.run(_as_deployed(engine, is_postgres))
    assert cli.main(["--database-url", database_url, "warnings"]) == 0
    return server


@pytest.fixture
def page(evaluated: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        tab.set_default_timeout(30_000)
        try:
            yield tab
        except Exception:
            tab.screenshot(path="kpi-page-failure.png", full_page=True)
            raise
        finally:
            browser.close()


def _headers(base: str) -> dict[str, str]:
    response = httpx.post(f"{base}/api/auth/token", json={"username": DISPATCHER, "password": DEMO_PASSWORD})
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _shown(value: float, unit: str) -> tuple[float, str]:
    """The number and the suffix the page shows for a value (api/kpi_charts.py formats the same way)."""
    if unit == "share":
        return value * 100, "%"
    if unit == "score":
        return value, ""
    for size, name in ((86400, "d"), (3600, "h"), (60, "min")):
        if abs(value) >= (48 * 3600 if name == "d" else size):
            return value / size, name
    return value, "s"


def _check_text(text: str, value: float, unit: str) -> None:
    number, suffix = _shown(value, unit)
    found = re.fullmatch(r"(-?[\d.]+)\s*(%|s|min|h|d)?", text.strip())
    assert found, text
    assert (found.group(2) or "") == suffix, (text, value, unit)
    assert float(found.group(1)) == pytest.approx(number, abs=0.051 if unit != "score" else 0.0051)


def _wait_ready(page: Any, containing: str = "") -> str:
    """Wait for the figures of a query (one containing `containing`) to be drawn; returns that query."""
    try:
        page.wait_for_function(
            "([want]) => document.body.dataset.state === 'ready' && "
            "(document.body.dataset.query || '').includes(want)",
            arg=[containing],
        )
    except Exception:
        page.screenshot(path="kpi-page-failure.png", full_page=True)
        state = page.evaluate("[document.body.dataset.state, document.querySelector('#message').textContent]")
        raise AssertionError(f"the page did not draw the figures: {state}") from None
    query: str = page.evaluate("document.body.dataset.query")
    return query


def _tiles(page: Any) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#tiles .tile')].map((t) => [t.dataset.kpi, {
            value: t.dataset.value, target_value: t.dataset.target, text: t.querySelector('.value').textContent,
            target: t.querySelector('.target').textContent, status: t.querySelector('.status').textContent,
            cls: t.className, sample: t.querySelector('.sample').textContent,
            points: t.querySelectorAll('.chart svg circle.point').length,
            targetLines: t.querySelectorAll('.chart svg line.target').length,
            title: (t.querySelector('.chart svg title') || {}).textContent}]))"""
    )
    return found


def _download(page: Any, button: str) -> tuple[str, str]:
    with page.expect_download() as info:
        page.click(button)
    download = info.value
    return download.suggested_filename, Path(download.path()).read_text(encoding="utf-8")


def test_the_kpi_page_shows_every_kpi_with_target_and_trend_the_worst_groups_warnings_and_exports(
    page: Any, evaluated: str
) -> None:
    server = evaluated
    elsewhere: list[str] = []
    page.on(
        "request", lambda r: None if r.url.startswith((server, "data:", "blob:")) else elsewhere.append(r.url)
    )

    page.goto(f"{server}/kpis")
    page.fill("#email", DISPATCHER)
    page.fill("#password", DEMO_PASSWORD)
    page.click("#login-form button")
    first = _wait_ready(page)
    # By default the last 28 days up to today (the browser's day).
    today = dt.date.fromisoformat(page.input_value("#to"))
    assert first.startswith(f"from={today - dt.timedelta(days=27)}&to={today}&weeks=8")
    assert abs(today - dt.datetime.now(dt.UTC).date()) <= dt.timedelta(days=1)

    # Four finished weeks up to last Sunday (in the demo's zone): every figure is settled, none moves while the test
    # compares the page with the API and the exports (today's deadlines pass by the minute).
    sunday = dt.datetime.now(ZoneInfo(TIMEZONE)).date()
    sunday -= dt.timedelta(days=sunday.weekday() + 1)
    page.fill("#from", str(sunday - dt.timedelta(days=27)))
    page.fill("#to", str(sunday))
    query = _wait_ready(page, f"from={sunday - dt.timedelta(days=27)}&to={sunday}&")

    api = _headers(server)
    report = httpx.get(f"{server}/api/kpis?{query}", headers=api, timeout=60).json()
    assert report["kpis"]

    # A tile per KPI: its value, its target, met or missed in words as well as colour, its sample, its trend chart.
    tiles = _tiles(page)
    assert list(tiles) == [k["key"] for k in report["kpis"]]
    for kpi in report["kpis"]:
        tile = tiles[kpi["key"]]
        assert kpi["value"] is not None, f"{kpi['key']} has no value on the demo"
        assert float(tile["value"]) == kpi["value"]
        _check_text(tile["text"], kpi["value"], kpi["unit"])
        sign = "≥" if kpi["better"] == "higher" else "≤"
        assert tile["target"].startswith(f"Target {sign} ")
        _check_text(tile["target"].removeprefix(f"Target {sign} "), kpi["target"], kpi["unit"])
        words, cls = ("Target met", "met") if kpi["met"] else ("Target missed", "missed")
        assert words in tile["status"]
        assert cls in tile["cls"].split()
        assert tile["sample"] == f"Based on {kpi['sample']}"
        assert tile["title"] == f"{kpi['label']}: weekly trend"
        assert tile["targetLines"] == 1
        assert tile["points"] == sum(v is not None for v in kpi["trend"]) >= 2, kpi["key"]
    # The companion figures.
    assert "90th percentile" in page.text_content("#tiles [data-kpi=response_phone_chat] .facts")
    assert "km" in page.text_content("#tiles [data-kpi=travel_per_job] .detail.metres_per_job")
    assert "Cost per visit" in page.text_content("#tiles [data-kpi=cost_ratio] .facts")

    # The worst territories and service types, in the report's order; the demo's territories are all there.
    territories = httpx.get(f"{server}/api/territories", headers=api).json()
    shown = page.eval_on_selector_all(
        "#territories tbody tr.group th", "cells => cells.map((c) => c.textContent)"
    )
    assert shown == [g["name"] for g in report["territories"]]
    assert sorted(shown) == sorted(t["name"] for t in territories)
    types = page.eval_on_selector_all(
        "#service-types tbody tr.group th", "cells => cells.map((c) => c.textContent)"
    )
    assert types == [g["name"] for g in report["service_types"]]
    assert types
    missed = sum(len(g["missed"]) for g in report["territories"])
    assert page.locator("#territories td.missed").count() == missed
    assert all(t.startswith("✘") for t in page.locator("#territories td.missed").all_text_contents())

    # The exports download through the page and hold the tiles' figures for the period.
    name, text = _download(page, "#export-csv")
    assert name == f"kpis-{report['start']}-{report['end']}.csv"
    rows = {r["kpi"]: r for r in csv.DictReader(io.StringIO(text)) if r["scope"] == "period"}
    assert set(rows) == set(tiles)
    for key, tile in tiles.items():
        assert float(rows[key]["value"]) == pytest.approx(float(tile["value"]), rel=1e-5)
        assert float(rows[key]["target"]) == pytest.approx(float(tile["target_value"]), rel=1e-5)
        assert rows[key]["met"] == ("yes" if "met" in tile["cls"].split() else "no")
    name, text = _download(page, "#export-json")
    assert name == f"kpis-{report['start']}-{report['end']}.json"
    exported = json.loads(text)
    assert (exported["start"], exported["end"]) == (report["start"], report["end"])
    assert {k["key"]: k["value"] for k in exported["kpis"]} == {
        k: float(t["value"]) for k, t in tiles.items()
    }
    assert {k["key"]: k["trend"] for k in exported["kpis"]} == {k["key"]: k["trend"] for k in report["kpis"]}

    # The open warnings, the nearest deadline first; acknowledging one says who is on it.
    warnings = httpx.get(f"{server}/api/warnings", params={"state": "open", "limit": 50}, headers=api).json()
    assert page.is_visible("#warnings")
    rows = page.locator("#warnings-table tr.warning")
    assert rows.count() == len(warnings["items"])
    if warnings["items"]:
        assert page.text_content("#warnings-count") == f"({warnings['total']})"
        first = warnings["items"][0]
        row = page.locator(f"#warnings-table tr.warning[data-id='{first['id']}']")
        assert first["message"] in row.text_content()
        row.locator("button.acknowledge").click()
        page.wait_for_selector(f"#warnings-table tr.warning[data-id='{first['id']}'] .acknowledged")
        again = httpx.get(f"{server}/api/warnings", params={"state": "acknowledged"}, headers=api).json()
        assert [w["id"] for w in again["items"]] == [first["id"]]
    else:
        assert page.text_content("#warnings-note") == "No open warnings."

    # One territory: other figures, from that territory alone, and only it in the table.
    worst = report["territories"][0]
    page.select_option("#territory", worst["id"])
    narrowed = _wait_ready(page, f"territory_id={worst['id']}")
    theirs = httpx.get(f"{server}/api/kpis?{narrowed}", headers=api, timeout=60).json()
    after = _tiles(page)
    assert {k: float(t["value"]) for k, t in after.items()} == {k["key"]: k["value"] for k in theirs["kpis"]}
    assert any(float(after[k]["value"]) != float(tiles[k]["value"]) for k in tiles)
    assert [k["sample"] for k in theirs["kpis"]] != [k["sample"] for k in report["kpis"]]
    assert page.eval_on_selector_all(
        "#territories tbody tr.group th", "c => c.map((x) => x.textContent)"
    ) == [worst["name"]]

    # A phone's width: one column, nothing wider than the screen (the wide tables scroll inside their box).
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    box = page.locator("#tiles .tile").first.bounding_box()
    assert box is not None
    assert box["width"] <= 390

    # To the board and back, signed in all the way.
    page.click("header a[href='/board']")
    page.wait_for_selector("#board:not([hidden])")
    page.click("header a[href='/kpis']")
    _wait_ready(page)
    assert page.locator("#tiles .tile").count() == len(report["kpis"])
    assert elsewhere == [], f"the page reached beyond the server: {elsewhere}"
