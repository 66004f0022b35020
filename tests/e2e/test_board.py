"""The dispatcher board in headless Chromium against a real server on the demo data: sign in, plan tomorrow, see
the routes drawn, have a move that breaks a skill rule refused, publish, and find each technician's day in order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from domain.demo import DEMO_PASSWORD
from tests.e2e.browser import launch, needs_chromium

pytestmark = needs_chromium
DISPATCHER = "dispatcher-north@example.com"


@pytest.fixture
def page(server: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            yield tab
        except Exception:
            tab.screenshot(path="board-failure.png")
            raise
        finally:
            browser.close()


def _token(base: str, email: str) -> dict[str, str]:
    response = httpx.post(f"{base}/api/auth/token", json={"username": email, "password": DEMO_PASSWORD})
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _lacking_skills(base: str, plan: dict[str, Any]) -> tuple[str, str]:
    """A planned job and a technician with work who lacks a skill it needs, read from the API."""
    headers = _token(base, DISPATCHER)
    levels = {}
    for route in plan["routes"]:
        technician = httpx.get(f"{base}/api/technicians/{route['technician_id']}", headers=headers).json()
        levels[route["technician_id"]] = {s["skill_id"]: s["level"] for s in technician["skills"]}
    for route in plan["routes"]:
        for stop in route["stops"]:
            needs = httpx.get(f"{base}/api/jobs/{stop['job_id']}", headers=headers).json()["required_skills"]
            for technician, held in levels.items():
                if any(held.get(n["skill_id"], 0) < n["min_level"] for n in needs):
                    return stop["job_id"], technician
    raise AssertionError("every planned job can go to every technician: the demo lost its skills")


def test_a_dispatcher_plans_tomorrow_reviews_moves_and_publishes_from_the_board(
    page: Any, server: str
) -> None:
    tomorrow = dt.datetime.now(ZoneInfo("Europe/Paris")).date() + dt.timedelta(days=1)
    page.goto(f"{server}/board")
    page.fill("#email", DISPATCHER)
    page.fill("#password", DEMO_PASSWORD)
    page.click("#login-form button")
    page.wait_for_selector("#board:not([hidden])")
    page.fill("#day", tomorrow.isoformat())
    page.fill("#limit", "2")
    page.click("#plan")
    page.wait_for_function(
        "document.querySelector('#status').textContent.startsWith('ready')", timeout=60_000
    )

    api = _token(server, DISPATCHER)
    plans = httpx.get(f"{server}/api/plans", params={"day": tomorrow.isoformat()}, headers=api).json()
    plan = httpx.get(f"{server}/api/plans/{plans[0]['id']}", headers=api).json()
    with_work = [r for r in plan["routes"] if r["stops"]]
    assert with_work
    # One route line on the map and one timeline lane per technician with work, a bar per visit.
    assert page.locator("#map path.route").count() == len(with_work)
    assert page.locator("#timeline g.lane").count() == len(with_work)
    assert page.locator("#timeline rect.visit").count() == plan["totals"]["assigned"]
    assert page.locator("#unassigned tr.unassigned-job").count() == len(plan["unassigned"])

    job, technician = _lacking_skills(server, plan)
    page.select_option("#move-job", job)
    page.select_option("#move-tech", technician)
    page.click("#move-form button")
    page.wait_for_function("document.querySelector('#message').textContent.startsWith('Refused')")
    assert "skills" in page.text_content("#message")

    page.click("#publish")
    page.wait_for_function("document.querySelector('#message').textContent.startsWith('Published')")
    assert page.text_content("#status").startswith("published")

    # Each technician with work finds their day, in the planned order, in their own job list.
    for route in with_work:
        email = httpx.get(f"{server}/api/technicians/{route['technician_id']}", headers=api).json()["email"]
        mine = httpx.get(
            f"{server}/api/jobs",
            params={"date": tomorrow.isoformat(), "limit": 200},
            headers=_token(server, email),
        ).json()["items"]
        planned = [j for j in mine if j["status"] == "dispatched" and j["assignment"]["planned_start"]]
        in_order = [j["id"] for j in sorted(planned, key=lambda j: j["assignment"]["planned_start"])]
        route_jobs = [s["job_id"] for s in route["stops"]]
        assert [j for j in in_order if j in route_jobs] == route_jobs
