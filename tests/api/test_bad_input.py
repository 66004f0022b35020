"""Bad input on every write: a clear 4xx problem, and nothing written.

One table, WRITES, lists every write endpoint with the role that may call it and a valid request. From each row:
malformed JSON, a body of the wrong shape, each field with a wrong type, each required field missing, an unknown
field (top level and nested), ids that do not exist (in the path and in the body), one subtest each, all checked
against a database snapshot taken before; then the row's request itself is sent and must succeed, which proves
every refusal was caused by its one defect. REFUSALS does the same for scope, the job state machine and
preconditions. The cases at the end pin bugs found and fixed: edge-of-calendar dates, NUL characters, lax coercion, skill levels.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.auth import issue_token
from api.settings import Settings
from domain import models as m
from tests.conftest import PASSWORD, World

PROBLEM_JSON = "application/problem+json"
# The switch tests/conftest.py reads to run the suite on PostgreSQL.

Body = dict[str, Any]
Path = tuple[str | int, ...]


# The table ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Write:
    operation_id: str
    method: str
    path: str  # placeholders: a key of `targets()`, or one `prepare` creates
    who: str
    body: Callable[[World], Body] | None  # a valid body; None for a write without one
    ok: int
    # Places in the body that refer to another object: a random UUID there must be a 404 or 422.
    refs: tuple[Path, ...] = ()
    if_match: bool = False
    # Creates what a DELETE removes (its control needs something deletable); returns extra placeholders.
    prepare: Callable[[TestClient[Any], dict[str, str], World], dict[str, str]] | None = None
    writes: bool = True
    id_missing: frozenset[int] = field(default_factory=lambda: frozenset({404}))

    def __str__(self) -> str:
        return self.operation_id


def targets(world: World) -> dict[str, str]:
    """What each path placeholder names when it is not the thing under test."""
    return {
        "job": str(world.jobs["north_open"]),
        "untriaged": str(world.jobs["north_untriaged"]),
        "customer": str(world.customers["north"]),
        "site": str(world.sites["north"]),
        "tech": str(world.technicians["tech_n1"]),
        "skill": str(world.skills["gas"]),
        "territory": str(world.territories["north"]),
        "service_type": str(world.service_types["leak-repair"]),
        "priority": "high",
    }


def _created(
    path: str, body: Body, name: str
) -> Callable[[TestClient[Any], dict[str, str], World], dict[str, str]]:
    def prepare(client: TestClient[Any], headers: dict[str, str], world: World) -> dict[str, str]:
        url = path.format(**targets(world))
        response = client.post(url, json=body, headers=headers)
        assert response.status_code == 201, response.text
        return {name: response.json()["id"]}

    return prepare


SHIFT = {"starts_at": "2030-03-04T08:00:00+01:00", "ends_at": "2030-03-04T17:00:00+01:00"}

WRITES: list[Write] = [
    Write(
        "CreateServiceRequest",
        "POST",
        "/api/service-requests",
        "disp_north",
        lambda w: {
            "channel": "phone",
            "description": "Water leaking under the kitchen sink",
            "customer": {"name": "Grace Hopper", "phone": "+33 6 44 55 66 00", "consent_to_messages": True},
            "site": {"address": "3 Rue du Nord, Lyon", "latitude": 45.781, "longitude": 4.84},
            "service_type_id": str(w.service_types["leak-repair"]),
            "priority": "high",
            "windows": [{"starts_at": "2030-03-04T08:00:00+01:00", "ends_at": "2030-03-04T12:00:00+01:00"}],
        },
        201,
        refs=(("service_type_id",), ("site_id",)),
    ),
    Write(
        "AssignJob",
        "PUT",
        "/api/jobs/{job}/assignment",
        "disp_north",
        lambda w: {
            "technician_id": str(w.technicians["tech_n1"]),
            "planned_start": "2030-03-04T09:00:00+01:00",
        },
        200,
        refs=(("technician_id",),),
    ),
    Write(
        "TriageJob",
        "PATCH",
        "/api/jobs/{untriaged}",
        "disp_north",
        lambda w: {"service_type_id": str(w.service_types["leak-repair"]), "priority": "high"},
        200,
        refs=(("service_type_id",),),
        if_match=True,
    ),
    Write(
        "TransitionJobStatus",
        "POST",
        "/api/jobs/{job}/transitions",
        "disp_north",
        lambda w: {"to_status": "on_hold", "reason": "customer away until Monday"},
        200,
    ),
    Write(
        "CreateCustomer",
        "POST",
        "/api/customers",
        "disp_north",
        lambda w: {
            "name": "Ada Lovelace",
            "phone": "+33 6 11 22 33 44",
            "email": "ada@example.org",
            "consent_to_messages": True,
        },
        201,
    ),
    Write(
        "UpdateCustomer",
        "PATCH",
        "/api/customers/{customer}",
        "disp_north",
        lambda w: {"name": "Customer North (renamed)", "consent_to_messages": True},
        200,
    ),
    Write(
        "CreateSite",
        "POST",
        "/api/customers/{customer}/sites",
        "disp_north",
        lambda w: {
            "address": "5 Rue du Nord, Lyon",
            "latitude": 45.782,
            "longitude": 4.841,
            "access_notes": "Gate code 1234",
        },
        201,
    ),
    Write(
        "UpdateSite",
        "PATCH",
        "/api/sites/{site}",
        "disp_north",
        lambda w: {"access_notes": "Dog in the yard"},
        200,
    ),
    Write(
        "CreateTechnician",
        "POST",
        "/api/technicians",
        "disp_north",
        lambda w: {
            "name": "tech_n3",
            "territory_id": str(w.territories["north"]),
            "home_latitude": 45.76,
            "home_longitude": 4.84,
            "email": "tech_n3@example.com",
            "skills": [{"skill_id": str(w.skills["plumbing"]), "level": 2}],
        },
        201,
        refs=(("territory_id",), ("skills", 0, "skill_id")),
    ),
    Write(
        "UpdateTechnician",
        "PATCH",
        "/api/technicians/{tech}",
        "disp_north",
        lambda w: {
            "name": "tech_n1 (renamed)",
            "phone": "+33 6 99 88 77 66",
            # a skill not held yet: see test_skill_levels_can_be_changed for one already held
            "skills": [{"skill_id": str(w.skills["electrical"]), "level": 2}],
        },
        200,
        refs=(("territory_id",), ("skills", 0, "skill_id")),
    ),
    Write(
        "CreateShift",
        "POST",
        "/api/technicians/{tech}/shifts",
        "disp_north",
        lambda w: {
            **SHIFT,
            "breaks": [
                {
                    "earliest_start": "2030-03-04T12:00:00+01:00",
                    "latest_end": "2030-03-04T14:00:00+01:00",
                    "duration_s": 1800,
                }
            ],
        },
        201,
    ),
    Write(
        "DeleteShift",
        "DELETE",
        "/api/technicians/{tech}/shifts/{shift}",
        "disp_north",
        None,
        204,
        prepare=_created("/api/technicians/{tech}/shifts", SHIFT, "shift"),
    ),
    Write(
        "CreateSkill", "POST", "/api/skills", "admin", lambda w: {"code": "welding", "name": "Welding"}, 201
    ),
    Write("UpdateSkill", "PATCH", "/api/skills/{skill}", "admin", lambda w: {"name": "Gas fitting"}, 200),
    Write(
        "DeleteSkill",
        "DELETE",
        "/api/skills/{new_skill}",
        "admin",
        None,
        204,
        prepare=_created("/api/skills", {"code": "roofing", "name": "Roofing"}, "new_skill"),
    ),
    Write(
        "CreateTerritory",
        "POST",
        "/api/territories",
        "admin",
        lambda w: {
            "code": "east",
            "name": "East",
            "center_latitude": 45.76,
            "center_longitude": 4.9,
            "timezone": "Europe/Paris",
        },
        201,
    ),
    Write(
        "UpdateTerritory",
        "PATCH",
        "/api/territories/{territory}",
        "admin",
        lambda w: {"name": "North bank", "center_latitude": 45.79},
        200,
    ),
    Write(
        "DeleteTerritory",
        "DELETE",
        "/api/territories/{new_territory}",
        "admin",
        None,
        204,
        prepare=_created(
            "/api/territories",
            {"code": "west", "name": "West", "center_latitude": 45.75, "center_longitude": 4.7},
            "new_territory",
        ),
    ),
    Write(
        "CreateServiceType",
        "POST",
        "/api/service-types",
        "admin",
        lambda w: {
            "code": "boiler-service",
            "name": "Boiler service",
            "default_duration_s": 3600,
            "default_priority": "normal",
            "skills": [{"skill_id": str(w.skills["gas"]), "min_level": 2}],
            "checklist": ["Flue checked"],
            "parts": ["Seal"],
            "tools": ["Analyser"],
            "keywords": ["boiler"],
            "requires_signature": True,
        },
        201,
        refs=(("skills", 0, "skill_id"),),
    ),
    Write(
        "UpdateServiceType",
        "PATCH",
        "/api/service-types/{service_type}",
        "admin",
        lambda w: {"name": "Leak", "default_duration_s": 1800, "keywords": ["leak", "drip"]},
        200,
    ),
    Write(
        "DeleteServiceType",
        "DELETE",
        "/api/service-types/{new_service_type}",
        "admin",
        None,
        204,
        prepare=_created(
            "/api/service-types",
            {"code": "survey", "name": "Survey", "default_duration_s": 600},
            "new_service_type",
        ),
    ),
    Write(
        "SetSlaPolicy",
        "PUT",
        "/api/sla-policies/{priority}",
        "admin",
        lambda w: {"respond_within_s": 3600, "resolve_within_s": 86400},
        200,
        # the "id" is a priority: an unknown one fails the path's enum, a 400
        id_missing=frozenset({400, 404}),
    ),
    Write(
        "CreateUser",
        "POST",
        "/api/users",
        "admin",
        lambda w: {
            "email": "new.dispatcher@example.com",
            "full_name": "New Dispatcher",
            "password": "long-enough-password",
            "role": "dispatcher",
            "territory_ids": [str(w.territories["north"])],
        },
        201,
        refs=(("territory_ids", 0),),
    ),
    Write(
        "CreateToken",
        "POST",
        "/api/auth/token",
        "",
        lambda w: {"username": w.users["admin"], "password": PASSWORD},
        200,
        writes=False,
    ),
]


def _placeholders(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _id(value: Any) -> str:
    return ".".join(map(str, value)) if isinstance(value, tuple) else str(value)


# Fixtures and helpers -------------------------------------------------------------------------------------------


@pytest.fixture
def tokens(
    client: TestClient[Any], settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> dict[str, dict[str, str]]:
    """Bearer headers per world user, signed by the login route's own function (no Argon2 per test)."""

    async def users() -> dict[str, m.User]:
        async with sessionmaker() as s:
            return {u.email: u for u in await s.scalars(sa.select(m.User))}

    by_email = asyncio.run(users())
    jwt_auth = client.app.state.jwt_auth
    headers = {
        who: {"Authorization": f"Bearer {issue_token(jwt_auth, settings, by_email[email])}"}
        for who, email in world.users.items()
    }
    headers[""] = {}
    return headers


@dataclass
class Caller:
    """Sends one write of the table, as its role, with If-Match when it needs one."""

    client: TestClient[Any]
    world: World
    tokens: dict[str, dict[str, str]]

    def url(self, w: Write, **overrides: str) -> str:
        return w.path.format(**{**targets(self.world), **overrides})

    def headers(self, w: Write, url: str) -> dict[str, str]:
        headers = dict(self.tokens[w.who])
        if w.if_match:
            current = self.client.get(url, headers=headers)
            headers["If-Match"] = current.headers.get("etag", '"1"')
        return headers

    def send(self, w: Write, *, url: str | None = None, **kwargs: Any) -> Any:
        url = url or self.url(w)
        return self.client.request(
            w.method, url, headers={**self.headers(w, url), **kwargs.pop("headers", {})}, **kwargs
        )


@pytest.fixture
def caller(client: TestClient[Any], world: World, tokens: dict[str, dict[str, str]]) -> Caller:
    return Caller(client, world, tokens)


def assert_problem(response: Any, *statuses: int) -> dict[str, Any]:
    assert response.status_code in statuses, (
        f"{response.status_code} not in {statuses}: {response.text[:300]}"
    )
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers.get("content-type")
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code
    assert isinstance(body.get("detail"), str), body
    assert body["detail"], body
    return body


def put(body: Any, path: Path, value: Any) -> Any:
    """A copy of `body` with `value` at `path` (created when missing)."""
    body = copy.deepcopy(body)
    node = body
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return body


def wrong_types(value: Any) -> list[Any]:
    """Values of the wrong JSON type for a field holding `value`, none of which a lax decoder coerces."""
    if isinstance(value, bool):
        return ["maybe", [value]]
    if isinstance(value, int | float):
        return ["many", {"value": value}]
    if isinstance(value, str):
        return [["a", "list"], {"an": "object"}]
    if isinstance(value, list):
        return ["one", {"0": value[:1]}]
    return ["text", [value]]


def nested_objects(body: Any, path: Path = ()) -> Iterator[Path]:
    """Paths of the objects nested in a body (inside objects and lists)."""
    items = body.items() if isinstance(body, dict) else enumerate(body) if isinstance(body, list) else ()
    for key, value in items:
        if isinstance(value, dict):
            yield (*path, key)
        yield from nested_objects(value, (*path, key))


# Every write, every defect ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Defect:
    label: str
    url: str
    statuses: tuple[int, ...]
    json: Any = None
    content: bytes | None = None
    mentions: str | None = None  # a field the problem must name (in `detail` or `errors[].field`)


MALFORMED = [b'{"name": ', b"{'single': 'quotes'}", b"", b"\xff\xfe", b"null", b"[]", b'"text"', b"42"]


def body_defects(w: Write, url: str, body: Body, required: list[str]) -> Iterator[Defect]:
    for content in MALFORMED:
        yield Defect(f"malformed JSON {content!r}", url, (400,), content=content)
    for key, value in body.items():
        for wrong in wrong_types(value):
            yield Defect(f"wrong type {key}={wrong!r}", url, (400,), json={**body, key: wrong}, mentions=key)
    for key in required:
        yield Defect(
            f"missing {key}", url, (400,), json={k: v for k, v in body.items() if k != key}, mentions=key
        )
    yield Defect("unknown field", url, (400,), json={**body, "surplus_field": 1}, mentions="surplus_field")
    for where in nested_objects(body):
        nested = put(body, (*where, "nested_surplus"), True)
        yield Defect(f"unknown field in {_id(where)}", url, (400,), json=nested, mentions="nested_surplus")


def id_defects(w: Write, caller: Caller, body: Body | None, real: dict[str, str]) -> Iterator[Defect]:
    for name in _placeholders(w.path):
        missing = "bogus" if name == "priority" else str(uuid.uuid4())
        url = caller.url(w, **{**real, name: missing})
        yield Defect(f"no such {name} {missing}", url, tuple(sorted(w.id_missing)), json=body)
    for ref in w.refs:
        assert body is not None
        missing = str(uuid.uuid4())
        yield Defect(
            f"no such {_id(ref)} {missing}", caller.url(w, **real), (404, 422), json=put(body, ref, missing)
        )


def mentioned(problem: dict[str, Any], name: str) -> bool:
    fields = [str(e.get("field", "")) for e in problem.get("errors", [])]
    return name in problem["detail"] or any(
        f == name or f.startswith((f"{name}.", f"{name}[")) for f in fields
    )


def struct_fields(app: Litestar, w: Write) -> list[str]:
    """The required fields of the endpoint's body, read from its msgspec struct."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if isinstance(handler, HTTPRouteHandler) and handler.operation_id == w.operation_id:
                annotation = handler.parsed_fn_signature.parameters["data"].annotation
                assert isinstance(annotation, type)
                assert issubclass(annotation, msgspec.Struct)
                return [f.encode_name for f in msgspec.structs.fields(annotation) if f.required]
    raise LookupError(w.operation_id)


@pytest.mark.parametrize("w", WRITES, ids=str)
def test_bad_input_is_refused_and_changes_nothing(
    caller: Caller,
    client: TestClient[Any],
    world: World,
    tokens: dict[str, dict[str, str]],
    snapshot: Any,
    subtests: pytest.Subtests,
    w: Write,
) -> None:
    """Each defect is a 4xx problem naming what is wrong; none writes anything; then the sample request itself,
    unchanged, is accepted: so each refusal above was caused by its one defect."""
    real = w.prepare(client, tokens[w.who], world) if w.prepare else {}
    url = caller.url(w, **real)
    body = w.body(world) if w.body else None
    defects = list(id_defects(w, caller, body, real))
    if body is not None:
        defects += body_defects(w, url, body, struct_fields(client.app, w))
    assert defects, "nothing to check"

    before = snapshot()
    for defect in defects:
        with subtests.test(msg=defect.label):
            headers = {"Content-Type": "application/json"} if defect.content is not None else {}
            response = caller.send(
                w, url=defect.url, json=defect.json, content=defect.content, headers=headers
            )
            problem = assert_problem(response, *defect.statuses)
            if defect.mentions:
                assert mentioned(problem, defect.mentions), problem
            if response.status_code == 422:
                assert problem.get("errors"), problem
    assert snapshot() == before, "a refused request changed the database"

    response = caller.send(w, url=url, json=body)
    assert response.status_code == w.ok, response.text
    assert (snapshot() != before) is w.writes


def test_unknown_account_cannot_log_in(client: TestClient[Any], world: World, snapshot: Any) -> None:
    before = snapshot()
    response = client.post("/api/auth/token", json={"username": "nobody@example.com", "password": PASSWORD})
    assert_problem(response, 401)
    assert snapshot() == before


# Refusals outside the body: scope, state machine, preconditions -------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    label: str
    who: str
    method: str
    path: str  # placeholders: keys of `_named(world)`
    body: Body | Callable[[World], Body] | None
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    carries: dict[str, Any] = field(default_factory=dict)  # members the problem must have, with their values


def _named(world: World) -> dict[str, str]:
    return {
        **{name: str(i) for name, i in world.jobs.items()},
        **{name: str(i) for name, i in world.technicians.items()},
        "south": str(world.territories["south"]),
        "random": str(uuid.uuid4()),
    }


ONE = {"If-Match": '"1"'}
STALE_IF_MATCH_TARGETS: list[tuple[str, str, str, Body | Callable[[World], Body]]] = [
    ("triage", "PATCH", "/api/jobs/{north_untriaged}", {"priority": "high"}),
    ("transition", "POST", "/api/jobs/{north_open}/transitions", {"to_status": "on_hold", "reason": "parts"}),
    (
        "assignment",
        "PUT",
        "/api/jobs/{north_open}/assignment",
        lambda w: {"technician_id": str(w.technicians["tech_n1"])},
    ),
]  # the current version of every world job: a precondition is never the reason

REFUSALS: dict[str, list[Refusal]] = {
    # What a caller may not see does not exist for them: 404, exactly like a missing id.
    "out of scope is 404": [
        Refusal(
            "dispatcher reads a job of another territory",
            "disp_north",
            "GET",
            "/api/jobs/{south_open}",
            None,
            404,
        ),
        Refusal(
            "... its status history", "disp_north", "GET", "/api/jobs/{south_open}/status-events", None, 404
        ),
        Refusal(
            "... moves it",
            "disp_north",
            "POST",
            "/api/jobs/{south_open}/transitions",
            {"to_status": "cancelled", "reason": "not mine"},
            404,
            ONE,
        ),
        Refusal(
            "... triages it", "disp_north", "PATCH", "/api/jobs/{south_open}", {"priority": "high"}, 404, ONE
        ),
        Refusal(
            "... assigns it",
            "disp_north",
            "PUT",
            "/api/jobs/{south_open}/assignment",
            lambda w: {"technician_id": str(w.technicians["tech_s1"])},
            404,
            ONE,
        ),
        Refusal(
            "dispatcher reads a technician of another territory",
            "disp_north",
            "GET",
            "/api/technicians/{tech_s1}",
            None,
            404,
        ),
        Refusal("... changes them", "disp_north", "PATCH", "/api/technicians/{tech_s1}", {"name": "x"}, 404),
        Refusal(
            "... gives them a shift", "disp_north", "POST", "/api/technicians/{tech_s1}/shifts", SHIFT, 404
        ),
        Refusal(
            "... deletes a shift of theirs",
            "disp_north",
            "DELETE",
            "/api/technicians/{tech_s1}/shifts/{random}",
            None,
            404,
        ),
        Refusal(
            "dispatcher renames another's territory",
            "disp_north",
            "PATCH",
            "/api/territories/{south}",
            {"name": "x"},
            404,
        ),
        Refusal("... deletes it", "disp_north", "DELETE", "/api/territories/{south}", None, 404),
        Refusal("technician reads a job not theirs", "tech_n1", "GET", "/api/jobs/{north_open}", None, 404),
        Refusal(
            "... its status history", "tech_n1", "GET", "/api/jobs/{north_open}/status-events", None, 404
        ),
        Refusal(
            "... moves it",
            "tech_n1",
            "POST",
            "/api/jobs/{north_open}/transitions",
            {"to_status": "cancelled", "reason": "x"},
            404,
            ONE,
        ),
        Refusal(
            "another technician moves a job",
            "tech_s1",
            "POST",
            "/api/jobs/{north_assigned}/transitions",
            {"to_status": "en_route"},
            404,
            ONE,
        ),
    ],
    # Referring to something outside one's territories in a body is a rule violation: 422 naming the field.
    "references out of scope are 422": [
        Refusal(
            "technician created in another territory",
            "disp_north",
            "POST",
            "/api/technicians",
            lambda w: {
                "name": "x",
                "territory_id": str(w.territories["south"]),
                "home_latitude": 45.7,
                "home_longitude": 4.8,
            },
            422,
        ),
        Refusal(
            "technician moved to another territory",
            "disp_north",
            "PATCH",
            "/api/technicians/{tech_n1}",
            lambda w: {"territory_id": str(w.territories["south"])},
            422,
        ),
        Refusal(
            "job assigned to a technician of another territory",
            "disp_north",
            "PUT",
            "/api/jobs/{north_open}/assignment",
            lambda w: {"technician_id": str(w.technicians["tech_s1"])},
            422,
        ),
        Refusal(
            "request taken for a site in another territory (its new customer is not kept either)",
            "disp_north",
            "POST",
            "/api/service-requests",
            {
                "channel": "phone",
                "description": "Sparks from the socket",
                "customer": {"name": "New Person", "phone": "+33 6 70 70 70 70"},
                "site": {"address": "9 Rue du Sud, Lyon", "latitude": 45.731, "longitude": 4.84},
            },
            422,
        ),
    ],
    "illegal transitions are 409 with the current status": [
        Refusal(
            f"{job}: {current} -> {to}",
            "disp_north",
            "POST",
            f"/api/jobs/{{{job}}}/transitions",
            {"to_status": to, "reason": "because"},
            409,
            carries={"current_status": current},
        )
        for job, current, to in [
            ("north_open", "new", "completed"),
            ("north_open", "new", "in_progress"),
            ("north_open", "new", "new"),
            ("north_assigned", "dispatched", "closed"),
            ("north_assigned", "dispatched", "reopened"),
        ]
    ],
    "legal moves refused by a rule": [
        Refusal(
            "cancel without a reason",
            "disp_north",
            "POST",
            "/api/jobs/{north_open}/transitions",
            {"to_status": "cancelled"},
            422,
        ),
        Refusal(
            "hold with an empty reason",
            "disp_north",
            "POST",
            "/api/jobs/{north_open}/transitions",
            {"to_status": "on_hold", "reason": ""},
            422,
        ),
        Refusal(
            "schedule with nobody assigned",
            "disp_north",
            "POST",
            "/api/jobs/{north_open}/transitions",
            {"to_status": "scheduled"},
            409,
        ),
        Refusal(
            "assign an untriaged job",
            "disp_north",
            "PUT",
            "/api/jobs/{north_untriaged}/assignment",
            lambda w: {"technician_id": str(w.technicians["tech_n1"])},
            409,
        ),
        Refusal(
            "technician cancels their own job (the office's move)",
            "tech_n1",
            "POST",
            "/api/jobs/{north_assigned}/transitions",
            {"to_status": "cancelled", "reason": "no"},
            403,
        ),
        Refusal(
            "technician skips en route",
            "tech_n1",
            "POST",
            "/api/jobs/{north_assigned}/transitions",
            {"to_status": "on_site"},
            409,
            carries={"current_status": "dispatched"},
        ),
    ],
    "preconditions": [
        Refusal(
            "triage without If-Match",
            "disp_north",
            "PATCH",
            "/api/jobs/{north_untriaged}",
            {"priority": "high"},
            428,
        ),
        Refusal(
            "triage with an If-Match that is no ETag",
            "disp_north",
            "PATCH",
            "/api/jobs/{north_untriaged}",
            {"priority": "high"},
            428,
            {"If-Match": "abc"},
        ),
        *(
            Refusal(
                f"{what} with a stale If-Match {tag}",
                "disp_north",
                method,
                path,
                body,
                412,
                {"If-Match": tag},
                carries={"current_version": 1},
            )
            for tag in ('"2"', '"0"', 'W/"99"')
            for what, method, path, body in STALE_IF_MATCH_TARGETS
        ),
        Refusal(
            "an empty Idempotency-Key",
            "disp_north",
            "POST",
            "/api/customers",
            {"name": "Idem", "phone": "+33 6 55 55 55 55"},
            422,
            {"Idempotency-Key": ""},
        ),
        Refusal(
            "an Idempotency-Key of 201 characters",
            "disp_north",
            "POST",
            "/api/customers",
            {"name": "Idem", "phone": "+33 6 55 55 55 55"},
            422,
            {"Idempotency-Key": "k" * 201},
        ),
    ],
}


@pytest.mark.parametrize("group", list(REFUSALS))
def test_refusals_change_nothing(
    client: TestClient[Any],
    world: World,
    tokens: dict[str, dict[str, str]],
    snapshot: Any,
    subtests: pytest.Subtests,
    group: str,
) -> None:
    before = snapshot()
    names = _named(world)
    for r in REFUSALS[group]:
        with subtests.test(msg=r.label):
            body = r.body(world) if callable(r.body) else r.body
            response = client.request(
                r.method, r.path.format(**names), json=body, headers={**tokens[r.who], **r.headers}
            )
            problem = assert_problem(response, r.status)
            if r.status == 422:
                assert problem.get("errors"), problem
            for member, value in r.carries.items():
                assert problem.get(member) == value, problem
    assert snapshot() == before, "a refused request changed the database"


# Known bugs: each asserts the right answer and is expected to fail until the service is fixed -------------------

FAR_FUTURE = "9999-12-31T20:00:00-05:00"  # a valid instant whose UTC form is in the year 10000


@dataclass(frozen=True)
class Probe:
    name: str
    who: str
    method: str
    path: str
    body: Callable[[World], Body] | None
    expected: frozenset[int]


def _intake_with_window(w: World) -> Body:
    return {
        "channel": "web",
        "description": "Leak",
        "customer": {"name": "Far Future", "phone": "+33 6 12 12 12 12"},
        "site": {"address": "4 Rue du Nord, Lyon", "latitude": 45.781, "longitude": 4.84},
        "windows": [{"starts_at": FAR_FUTURE, "ends_at": "9999-12-31T22:00:00-05:00"}],
    }


OVERFLOW_PROBES = [
    Probe(
        "date filter on the last day",
        "disp_north",
        "GET",
        "/api/jobs?date=9999-12-31",
        None,
        frozenset({200, 400, 422}),
    ),
    Probe(
        "resolve_by_before past year 9999 in UTC",
        "disp_north",
        "GET",
        "/api/jobs?resolve_by_before=9999-12-31T23:59:59-05:00",
        None,
        frozenset({200, 400, 422}),
    ),
    Probe(
        "shift past year 9999 in UTC",
        "disp_north",
        "POST",
        "/api/technicians/{tech_n1}/shifts",
        lambda w: {"starts_at": FAR_FUTURE, "ends_at": "9999-12-31T22:00:00-05:00"},
        frozenset({201, 400, 422}),
    ),
    Probe(
        "shift before year 1 in UTC",
        "disp_north",
        "POST",
        "/api/technicians/{tech_n1}/shifts",
        lambda w: {"starts_at": "0001-01-01T00:00:00+05:00", "ends_at": "0001-01-01T02:00:00+05:00"},
        frozenset({201, 400, 422}),
    ),
    Probe(
        "intake window past year 9999 in UTC",
        "disp_north",
        "POST",
        "/api/service-requests",
        _intake_with_window,
        frozenset({201, 400, 422}),
    ),
    Probe(
        "planned start past year 9999 in UTC",
        "disp_north",
        "PUT",
        "/api/jobs/{north_open}/assignment",
        lambda w: {"technician_id": str(w.technicians["tech_n1"]), "planned_start": FAR_FUTURE},
        frozenset({200, 400, 422}),
    ),
]

NUL_PROBES = [
    Probe(
        "NUL in a customer's name",
        "disp_north",
        "POST",
        "/api/customers",
        lambda w: {"name": "Nul\u0000Name", "phone": "+33 6 13 13 13 13"},
        frozenset({201, 400, 422}),
    ),
    Probe(
        "NUL in a skill's name",
        "admin",
        "POST",
        "/api/skills",
        lambda w: {"code": "nul", "name": "Bad\u0000"},
        frozenset({201, 400, 422}),
    ),
    Probe("NUL in a search", "disp_north", "GET", "/api/customers?q=a%00b", None, frozenset({200, 400, 422})),
]


def _send_probe(
    client: TestClient[Any], world: World, tokens: dict[str, dict[str, str]], probe: Probe
) -> Any:
    url = probe.path.format(tech_n1=world.technicians["tech_n1"], north_open=world.jobs["north_open"])
    return client.request(
        probe.method, url, json=probe.body(world) if probe.body else None, headers=tokens[probe.who]
    )


@pytest.mark.parametrize("probe", OVERFLOW_PROBES, ids=[p.name for p in OVERFLOW_PROBES])
def test_edge_of_calendar_datetimes_are_answered(
    client: TestClient[Any], world: World, tokens: dict[str, dict[str, str]], snapshot: Any, probe: Probe
) -> None:
    before = snapshot()
    response = _send_probe(client, world, tokens, probe)
    assert response.status_code in probe.expected, f"{response.status_code}: {response.text[:200]}"
    if response.status_code >= 400:
        assert snapshot() == before


@pytest.mark.parametrize("probe", NUL_PROBES, ids=[p.name for p in NUL_PROBES])
def test_nul_characters_are_answered(
    client: TestClient[Any], world: World, tokens: dict[str, dict[str, str]], snapshot: Any, probe: Probe
) -> None:
    before = snapshot()
    response = _send_probe(client, world, tokens, probe)
    assert response.status_code in probe.expected, f"{response.status_code}: {response.text[:200]}"
    if response.status_code >= 400:
        assert snapshot() == before


LAX_COERCIONS: list[tuple[str, str, str, Callable[[World], Body]]] = [
    (
        "a Unix timestamp for a date-time",
        "POST",
        "/api/technicians/{tech_n1}/shifts",
        lambda w: {"starts_at": 1_900_000_000, "ends_at": 1_900_003_600},
    ),
    (
        "a string for a number",
        "POST",
        "/api/territories",
        lambda w: {"code": "lax", "name": "Lax", "center_latitude": "45.1", "center_longitude": 4.8},
    ),
    (
        "a string for a boolean",
        "PATCH",
        "/api/customers/{customer}",
        lambda w: {"consent_to_messages": "true"},
    ),
    ("a number for a boolean", "PATCH", "/api/customers/{customer}", lambda w: {"consent_to_messages": 1}),
    (
        "a string for an integer",
        "PUT",
        "/api/sla-policies/high",
        lambda w: {"respond_within_s": "3600", "resolve_within_s": 86400},
    ),
]


@pytest.mark.parametrize(
    ("case", "method", "path", "body"), LAX_COERCIONS, ids=[c for c, *_ in LAX_COERCIONS]
)
def test_wrong_types_are_not_coerced(
    client: TestClient[Any],
    world: World,
    tokens: dict[str, dict[str, str]],
    snapshot: Any,
    case: str,
    method: str,
    path: str,
    body: Callable[[World], Body],
) -> None:
    before = snapshot()
    url = path.format(tech_n1=world.technicians["tech_n1"], customer=world.customers["north"])
    assert_problem(client.request(method, url, json=body(world), headers=tokens["admin"]), 400)
    assert snapshot() == before


@pytest.mark.parametrize(
    ("path", "member"),
    [("/api/technicians/{tech_n1}", "level"), ("/api/service-types/{leak}", "min_level")],
    ids=["technician", "service-type"],
)
def test_skill_levels_can_be_changed(
    client: TestClient[Any], world: World, tokens: dict[str, dict[str, str]], path: str, member: str
) -> None:
    """Both world owners hold plumbing; sending it again with another level must change the level."""
    url = path.format(tech_n1=world.technicians["tech_n1"], leak=world.service_types["leak-repair"])
    skill = str(world.skills["plumbing"])
    response = client.patch(url, json={"skills": [{"skill_id": skill, member: 4}]}, headers=tokens["admin"])
    assert response.status_code == 200, response.text
    assert response.json()["skills"] == [{"skill_id": skill, member: 4}]
