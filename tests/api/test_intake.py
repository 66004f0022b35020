"""Taking a request in: the customer is found or created (never duplicated), the site is located, the job is
classified from its service type or waits for triage with ranked suggestions."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.app import create_app
from api.settings import Settings
from domain import models as m
from domain.audit import verify_chain
from domain.classification import DEFAULT_SLA
from domain.demo import GAZETTEER
from domain.enums import Channel, Priority
from tests.conftest import TODAY, World, rows

NORTH_STREET = "Rue Vendôme"  # 45.762 N: nearer the north centre (45.78) than the south one (45.73)
SOUTH_STREET = "Rue de Gerland"  # 45.729 N


def body(**overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "channel": "phone",
        "description": "Something needs looking at",
        "customer": {"name": "Jeanne Caller", "phone": "+33 6 11 22 33 44"},
        "site": {"address": f"12 {NORTH_STREET}, Lyon"},
    }
    request.update(overrides)
    return request


def take(client: TestClient[Any], headers: dict[str, str], **overrides: Any) -> httpx.Response:
    return client.post("/api/service-requests", json=body(**overrides), headers=headers)


def taken(client: TestClient[Any], headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    response = take(client, headers, **overrides)
    assert response.status_code == 201, response.text
    return response.json()


def assert_problem(response: httpx.Response, status: int, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    if field is not None:
        assert field in [e["field"] for e in response.json().get("errors", [])], response.json()


def received_at(sessionmaker: async_sessionmaker[AsyncSession], request_id: str) -> dt.datetime:
    async def read() -> dt.datetime:
        async with sessionmaker() as s:
            return (await s.get_one(m.ServiceRequest, uuid.UUID(request_id))).received_at

    return asyncio.run(read())


def at(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


# Customers --------------------------------------------------------------------------------------------------------


def test_a_phone_request_from_an_unknown_customer_creates_them(
    client: TestClient[Any], auth: Any, sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    customers = rows(sessionmaker, m.Customer)
    out = taken(client, auth("disp_north"))
    assert out["customer_created"] is True
    assert rows(sessionmaker, m.Customer) == customers + 1
    customer = client.get(f"/api/customers/{out['customer_id']}", headers=auth("disp_north")).json()
    assert (customer["name"], customer["phone"], customer["email"]) == ("Jeanne Caller", "+33611223344", None)
    job = out["job"]
    assert (job["customer_id"], job["site_id"], job["status"]) == (out["customer_id"], out["site_id"], "new")
    assert job["service_request_id"] == out["service_request_id"]


PHONE_SPELLINGS = [
    "+33611223344",
    "+33 6.11.22.33.44",
    "0033 6 11 22 33 44",
    "+33 (0)6 11 22 33 44",
    "+33-611-223-344",
]


def test_the_same_phone_typed_differently_reuses_the_customer(
    client: TestClient[Any], auth: Any, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    first = taken(client, auth("disp_north"))
    customers, sites, jobs = (rows(sessionmaker, t) for t in (m.Customer, m.Site, m.Job))
    for spelling in PHONE_SPELLINGS:
        again = taken(
            client,
            auth("disp_north"),
            customer={"name": "J. Caller", "phone": spelling},
            site={"address": f"12  {NORTH_STREET.upper()}, Lyon"},
        )
        assert (again["customer_created"], again["customer_id"]) == (False, first["customer_id"]), spelling
        assert again["site_id"] == first["site_id"], "the same address of the same customer is the same site"
    assert (rows(sessionmaker, m.Customer), rows(sessionmaker, m.Site)) == (customers, sites)
    assert rows(sessionmaker, m.Job) == jobs + len(PHONE_SPELLINGS)


def test_the_same_email_in_another_case_reuses_the_customer(
    client: TestClient[Any], auth: Any, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    first = taken(
        client,
        auth("disp_north"),
        channel="email",
        customer={"name": "Jane", "email": "Jane.Doe@Example.com"},
    )
    assert first["customer_created"] is True
    customers = rows(sessionmaker, m.Customer)
    for spelling in ("JANE.DOE@EXAMPLE.COM", "jane.doe@example.com", " Jane.Doe@example.COM "):
        again = taken(
            client, auth("disp_north"), channel="web", customer={"name": "Jane D.", "email": spelling}
        )
        assert (again["customer_created"], again["customer_id"]) == (False, first["customer_id"]), spelling
    assert rows(sessionmaker, m.Customer) == customers
    stored = client.get(f"/api/customers/{first['customer_id']}", headers=auth("disp_north")).json()
    assert stored["email"] == "jane.doe@example.com"


def test_a_known_customer_gains_the_contact_they_lacked(
    client: TestClient[Any], auth: Any, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    first = taken(
        client, auth("disp_north"), channel="email", customer={"name": "Jane", "email": "jane@example.org"}
    )
    second = taken(
        client,
        auth("disp_north"),
        customer={"name": "Jane", "email": "jane@example.org", "phone": "+33 4 78 00 11 22"},
    )
    third = taken(client, auth("disp_north"), customer={"name": "Jane", "phone": "0033478001122"})
    assert first["customer_id"] == second["customer_id"] == third["customer_id"]
    assert rows(sessionmaker, m.Customer) == 3  # the world's two, and Jane
    stored = client.get(f"/api/customers/{first['customer_id']}", headers=auth("disp_north")).json()
    assert (stored["email"], stored["phone"]) == ("jane@example.org", "+33478001122")


def test_an_existing_customer_is_found_by_their_phone(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # The world's north customer is on +336123445781.
    out = taken(
        client,
        auth("disp_north"),
        customer={"name": "Customer north", "phone": "+33 6 12 34 45 781"},
        site={"address": "1 Rue North, Lyon"},
    )
    assert (out["customer_created"], out["customer_id"]) == (False, str(world.customers["north"]))
    assert out["site_id"] == str(world.sites["north"])
    assert rows(sessionmaker, m.Customer) == 2


def test_the_email_wins_when_phone_and_email_belong_to_different_customers(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    out = taken(
        client,
        auth("admin"),
        customer={"name": "?", "email": "CUSTOMER.SOUTH@example.net", "phone": "+336123445781"},
        site={"address": "1 Rue South, Lyon"},
    )
    assert (out["customer_created"], out["customer_id"]) == (False, str(world.customers["south"]))
    assert rows(sessionmaker, m.Customer) == 2


def test_simultaneous_requests_from_one_new_caller_create_one_customer(
    settings: Settings, engine: AsyncEngine, auth: Any, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    headers = auth("disp_north")
    app = create_app(settings, engine)

    async def burst() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://fieldwork") as http:
            return await asyncio.gather(
                *(
                    http.post(
                        "/api/service-requests",
                        headers=headers,
                        json=body(
                            customer={
                                "name": "Burst",
                                "phone": f"+33 6 99 88 77 6{6}",
                                "email": "burst@example.org",
                            },
                            description=f"call {i}",
                        ),
                    )
                    for i in range(8)
                )
            )

    responses = asyncio.run(burst())
    assert [r.status_code for r in responses] == [201] * 8, [r.text for r in responses]
    assert len({r.json()["customer_id"] for r in responses}) == 1
    assert sum(r.json()["customer_created"] for r in responses) == 1
    assert rows(sessionmaker, m.Customer) == 3
    assert rows(sessionmaker, m.Site) == 3

    async def chain_ok() -> bool:
        async with sessionmaker() as s:
            entries = list(await s.scalars(sa.select(m.AuditEntry).order_by(m.AuditEntry.seq)))
            return verify_chain(entries, await s.get_one(m.AuditHead, 1)).ok

    assert asyncio.run(chain_ok()), "concurrent writers keep the audit chain linear"


def test_junk_contacts_are_refused_and_change_nothing(
    client: TestClient[Any], auth: Any, snapshot: Any
) -> None:
    before = snapshot()
    for customer, field in (
        ({"name": "X", "phone": "call me maybe"}, "customer.phone"),
        ({"name": "X", "phone": "12345"}, "customer.phone"),
        ({"name": "X", "email": "jane@"}, "customer.email"),
        ({"name": "X"}, "customer"),
    ):
        assert_problem(take(client, auth("disp_north"), customer=customer), 422, field)
    assert snapshot() == before


# Sites ------------------------------------------------------------------------------------------------------------


def test_an_address_alone_is_geocoded_and_placed_in_the_nearest_territory(
    client: TestClient[Any], auth: Any, world: World
) -> None:
    for i, (street, territory) in enumerate(((NORTH_STREET, "north"), (SOUTH_STREET, "south"))):
        out = taken(
            client,
            auth("admin"),
            customer={"name": f"Caller {i}", "phone": f"+33 6 00 00 00 0{i}"},
            site={"address": f"7 {street}, 69000 Lyon", "access_notes": "Code 1234"},
        )
        sites = client.get(f"/api/customers/{out['customer_id']}/sites", headers=auth("admin")).json()
        assert len(sites) == 1
        site = sites[0]
        assert site["id"] == out["site_id"]
        assert (site["latitude"], site["longitude"]) == pytest.approx(GAZETTEER[street])
        assert site["territory_id"] == str(world.territories[territory]), street
        assert site["access_notes"] == "Code 1234"
        assert out["job"]["territory_id"] == str(world.territories[territory])


def test_given_coordinates_are_used_without_geocoding(
    client: TestClient[Any], auth: Any, world: World
) -> None:
    out = taken(
        client,
        auth("admin"),
        site={"address": "Farm at the end of the lane", "latitude": 45.72, "longitude": 4.85},
    )
    assert out["job"]["territory_id"] == str(world.territories["south"])


def test_an_unknown_address_is_a_422_naming_site_and_changes_nothing(
    client: TestClient[Any], auth: Any, snapshot: Any
) -> None:
    before = snapshot()
    response = take(client, auth("disp_north"), site={"address": "42 Nowhere Street, Atlantis"})
    assert_problem(response, 422, "site")
    assert snapshot() == before


def test_a_request_needs_a_site(client: TestClient[Any], auth: Any, snapshot: Any) -> None:
    before = snapshot()
    request = body()
    del request["site"]
    response = client.post("/api/service-requests", json=request, headers=auth("disp_north"))
    assert_problem(response, 422, "site")
    assert snapshot() == before


# Classification ---------------------------------------------------------------------------------------------------


def test_with_a_service_type_the_job_is_classified_at_once(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    out = taken(
        client,
        auth("disp_north"),
        service_type_id=str(world.service_types["leak-repair"]),
        description="Water everywhere",
    )
    job = out["job"]
    assert out["needs_triage"] is False
    assert out["suggestions"] == []
    assert job["service_type_id"] == str(world.service_types["leak-repair"])
    assert job["status"] == "new"
    assert job["required_skills"] == [{"skill_id": str(world.skills["plumbing"]), "min_level": 2}]
    assert job["duration_s"] == 3600
    assert job["checklist"] == ["Water isolated", "Repair tested"]
    assert (job["parts"], job["tools"]) == (["PTFE tape"], ["Pipe cutter"])
    assert job["priority"] == "urgent", "the type's default priority"
    assert job["value_cents"] is None, "the type has no price"
    received = received_at(sessionmaker, out["service_request_id"])
    terms = DEFAULT_SLA[Priority.URGENT]
    assert at(job["respond_by"]) == received + dt.timedelta(seconds=terms.respond_within_s)
    assert at(job["resolve_by"]) == received + dt.timedelta(seconds=terms.resolve_within_s)


def test_a_classified_job_is_worth_its_service_type_s_price(
    client: TestClient[Any], auth: Any, world: World
) -> None:
    priced = client.patch(
        f"/api/service-types/{world.service_types['leak-repair']}",
        headers=auth("admin"),
        json={"price_cents": 12_000},
    )
    assert priced.status_code == 200, priced.text
    assert priced.json()["price_cents"] == 12_000
    out = taken(client, auth("disp_north"), service_type_id=str(world.service_types["leak-repair"]))
    assert out["job"]["value_cents"] == 12_000


def test_a_given_priority_overrides_the_types_default_and_sets_the_deadlines(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    out = taken(
        client,
        auth("disp_north"),
        service_type_id=str(world.service_types["electrical-fault"]),
        priority="low",
    )
    job = out["job"]
    assert job["priority"] == "low"
    assert job["required_skills"] == [{"skill_id": str(world.skills["electrical"]), "min_level": 3}]
    assert (job["duration_s"], job["tools"]) == (5400, ["Voltage tester"])
    received = received_at(sessionmaker, out["service_request_id"])
    terms = DEFAULT_SLA[Priority.LOW]
    assert at(job["respond_by"]) == received + dt.timedelta(seconds=terms.respond_within_s)
    assert at(job["resolve_by"]) == received + dt.timedelta(seconds=terms.resolve_within_s)


def test_the_sla_policy_table_overrides_the_default_terms(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    policy = client.put(
        "/api/sla-policies/high",
        json={"respond_within_s": 7200, "resolve_within_s": 36000},
        headers=auth("admin"),
    )
    assert policy.status_code == 200, policy.text
    listed = {p["priority"]: p for p in client.get("/api/sla-policies", headers=auth("admin")).json()}
    assert (listed["high"]["respond_within_s"], listed["high"]["resolve_within_s"]) == (7200, 36000)
    out = taken(client, auth("disp_north"), service_type_id=str(world.service_types["electrical-fault"]))
    job = out["job"]
    assert job["priority"] == "high"
    received = received_at(sessionmaker, out["service_request_id"])
    assert at(job["respond_by"]) == received + dt.timedelta(hours=2)
    assert at(job["resolve_by"]) == received + dt.timedelta(hours=10)


def test_without_a_type_the_job_waits_for_triage_with_ranked_suggestions(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    out = taken(client, auth("disp_north"), description="Water leak from a pipe, and sparks at the socket")
    assert out["needs_triage"] is True
    assert [(s["code"], s["score"], s["matched_keywords"]) for s in out["suggestions"]] == [
        ("leak-repair", 3, ["leak", "water", "pipe"]),
        ("electrical-fault", 2, ["socket", "sparks"]),
    ]
    assert out["suggestions"][0]["service_type_id"] == str(world.service_types["leak-repair"])
    assert out["suggestions"][0]["name"] == "Water leak"
    job = out["job"]
    assert (job["status"], job["service_type_id"], job["priority"]) == ("new", None, "normal")
    assert job["suggested_service_type_codes"] == ["leak-repair", "electrical-fault"]
    assert (job["required_skills"], job["checklist"], job["duration_s"]) == ([], [], 3600)
    received = received_at(sessionmaker, out["service_request_id"])
    assert at(job["respond_by"]) == received + dt.timedelta(
        seconds=DEFAULT_SLA[Priority.NORMAL].respond_within_s
    )
    listed = client.get("/api/jobs", params={"needs_triage": "true"}, headers=auth("disp_north")).json()
    assert out["job"]["id"] in [j["id"] for j in listed["items"]]


def test_tied_suggestions_are_ranked_by_code(client: TestClient[Any], auth: Any) -> None:
    out = taken(client, auth("disp_north"), description="Socket sparks next to the water pipe")
    assert [(s["code"], s["score"]) for s in out["suggestions"]] == [
        ("electrical-fault", 2),
        ("leak-repair", 2),
    ]


def test_no_keyword_no_suggestion(client: TestClient[Any], auth: Any) -> None:
    out = taken(client, auth("disp_north"), description="Strange noise in the basement")
    assert (out["needs_triage"], out["suggestions"], out["job"]["suggested_service_type_codes"]) == (
        True,
        [],
        [],
    )


def test_an_unknown_service_type_is_a_422(client: TestClient[Any], auth: Any, snapshot: Any) -> None:
    before = snapshot()
    assert_problem(
        take(client, auth("disp_north"), service_type_id=str(uuid.uuid4())), 422, "service_type_id"
    )
    assert snapshot() == before


# Territories, windows, channels, roles ------------------------------------------------------------------------------


def test_a_dispatcher_cannot_take_a_request_for_another_territory(
    client: TestClient[Any], auth: Any, snapshot: Any
) -> None:
    before = snapshot()
    response = take(client, auth("disp_north"), site={"address": f"3 {SOUTH_STREET}, Lyon"})
    assert_problem(response, 422, "site")
    assert snapshot() == before
    out = taken(client, auth("disp_south"), site={"address": f"3 {SOUTH_STREET}, Lyon"})
    assert out["customer_created"] is True


def test_a_dispatcher_cannot_use_a_known_site_of_another_territory(
    client: TestClient[Any], auth: Any, world: World, snapshot: Any
) -> None:
    before = snapshot()
    response = take(
        client,
        auth("disp_north"),
        customer={"name": "Customer south", "email": "customer.south@example.net"},
        site=None,
        site_id=str(world.sites["south"]),
    )
    assert_problem(response, 422, "site")
    assert snapshot() == before


def test_a_site_id_must_belong_to_the_customer(client: TestClient[Any], auth: Any, world: World) -> None:
    response = take(client, auth("admin"), site=None, site_id=str(world.sites["north"]))
    assert_problem(response, 422, "site_id")


BAD_WINDOWS = [
    ([{"starts_at": "2030-01-02T12:00:00+00:00", "ends_at": "2030-01-02T08:00:00+00:00"}], "windows[0]"),
    ([{"starts_at": "2030-01-02T08:00:00+00:00", "ends_at": "2030-01-02T08:00:00+00:00"}], "windows[0]"),
    (
        [
            {"starts_at": "2030-01-02T08:00:00+00:00", "ends_at": "2030-01-02T12:00:00+00:00"},
            # 08:00 UTC both: written in two offsets, the window is empty.
            {"starts_at": "2030-01-03T10:00:00+02:00", "ends_at": "2030-01-03T09:00:00+01:00"},
        ],
        "windows[1]",
    ),
]


def test_a_window_ending_before_it_starts_is_a_422(client: TestClient[Any], auth: Any, snapshot: Any) -> None:
    before = snapshot()
    for windows, field in BAD_WINDOWS:
        assert_problem(take(client, auth("disp_north"), windows=windows), 422, field)
    assert snapshot() == before


def test_windows_are_kept_in_utc_in_order(client: TestClient[Any], auth: Any) -> None:
    tomorrow = TODAY + dt.timedelta(days=1)
    later = {
        "starts_at": (tomorrow + dt.timedelta(hours=14)).isoformat(),
        "ends_at": (tomorrow + dt.timedelta(hours=17)).isoformat(),
    }
    paris = dt.timezone(dt.timedelta(hours=2))
    earlier = {
        "starts_at": (tomorrow + dt.timedelta(hours=8)).astimezone(paris).isoformat(),
        "ends_at": (tomorrow + dt.timedelta(hours=10)).astimezone(paris).isoformat(),
    }
    out = taken(client, auth("disp_north"), windows=[later, earlier])
    job = client.get(f"/api/jobs/{out['job']['id']}", headers=auth("disp_north")).json()
    kept = [(at(w["starts_at"]), at(w["ends_at"])) for w in job["time_windows"]]
    assert kept == [
        (tomorrow + dt.timedelta(hours=8), tomorrow + dt.timedelta(hours=10)),
        (tomorrow + dt.timedelta(hours=14), tomorrow + dt.timedelta(hours=17)),
    ]
    listed = client.get("/api/jobs", params={"date": str(tomorrow.date())}, headers=auth("disp_north")).json()
    assert out["job"]["id"] in [j["id"] for j in listed["items"]]


def test_a_window_without_a_timezone_is_refused(client: TestClient[Any], auth: Any) -> None:
    response = take(
        client,
        auth("disp_north"),
        windows=[{"starts_at": "2030-01-02T08:00:00", "ends_at": "2030-01-02T12:00:00"}],
    )
    assert_problem(response, 400)


def test_every_channel_is_accepted_and_logged(
    client: TestClient[Any], auth: Any, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    me = client.get("/api/me", headers=auth("disp_north")).json()
    for channel in Channel:
        out = taken(client, auth("disp_north"), channel=channel.value)

        async def stored_channel(request_id: str = out["service_request_id"]) -> Channel:
            async with sessionmaker() as s:
                return (await s.get_one(m.ServiceRequest, uuid.UUID(request_id))).channel

        assert asyncio.run(stored_channel()) is channel
        events = client.get(f"/api/jobs/{out['job']['id']}/status-events", headers=auth("disp_north")).json()
        assert [(e["from_status"], e["to_status"], e["actor_user_id"], e["reason"]) for e in events] == [
            (None, "new", me["id"], f"intake via {channel.value}")
        ]


def test_an_unknown_channel_is_refused(client: TestClient[Any], auth: Any, snapshot: Any) -> None:
    before = snapshot()
    assert_problem(take(client, auth("disp_north"), channel="fax"), 400)
    assert snapshot() == before


def test_technicians_cannot_take_requests_and_strangers_are_refused(
    client: TestClient[Any], auth: Any, snapshot: Any
) -> None:
    before = snapshot()
    assert_problem(take(client, auth("tech_n1")), 403)
    assert take(client, {}).status_code == 401
    assert snapshot() == before


def test_unknown_fields_are_refused(client: TestClient[Any], auth: Any, snapshot: Any) -> None:
    before = snapshot()
    assert_problem(take(client, auth("disp_north"), status="completed"), 400)
    assert snapshot() == before


def test_the_intake_answer_shows_the_job_as_it_is_stored(client: TestClient[Any], auth: Any) -> None:
    tomorrow = TODAY + dt.timedelta(days=1)
    windows = [
        {
            "starts_at": (tomorrow + dt.timedelta(hours=h)).isoformat(),
            "ends_at": (tomorrow + dt.timedelta(hours=h + 2)).isoformat(),
        }
        for h in (14, 8)
    ]
    out = taken(client, auth("disp_north"), windows=windows)
    stored = client.get(f"/api/jobs/{out['job']['id']}", headers=auth("disp_north")).json()
    assert out["job"]["time_windows"] == stored["time_windows"]
