"""Every route is guarded or deliberately public; operation ids are explicit; tokens are checked properly.

The route inventory is read from the running app (`client.app`), so a new handler without a role guard fails here
the day it is added, and the access matrix below must be updated on purpose when a guard changes.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
import sqlalchemy as sa
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.auth import ACCESS_TOKEN_TYPE, PUBLIC_PATHS
from api.settings import Settings
from domain import models as m
from domain.enums import Role
from tests.conftest import World

PROBLEM_JSON = "application/problem+json"

# Reachable without a token, on purpose: (method, path as Litestar declares it).
PUBLIC: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/health"),
        ("GET", "/board"),
        ("GET", "/kpis"),
        ("POST", "/api/auth/token"),
        ("GET", "/schema"),
        ("GET", "/schema/openapi.json"),
        ("GET", "/schema/swagger"),
        ("GET", "/schema/oauth2-redirect.html"),
        ("GET", "/schema/{path:str}"),
        # Whoever holds a completion certificate may have it checked; limited per address.
        ("POST", "/api/certificates/verification"),
        # The customer's pages: the link in the path is the credential (domain.links), checked by each page.
        ("GET", "/c/{token:str}"),
        ("GET", "/c/{token:str}/certificate"),
        ("POST", "/c/{token:str}/confirm"),
        ("GET", "/c/{token:str}/reschedule"),
        ("POST", "/c/{token:str}/reschedule"),
        ("POST", "/c/{token:str}/sign"),
        ("POST", "/c/{token:str}/refuse"),
        ("POST", "/c/{token:str}/rating"),
        ("POST", "/c/{token:str}/complaint"),
        ("POST", "/c/{token:str}/verdict"),
        ("GET", "/request"),
        ("POST", "/request"),
    }
)

ADMIN = frozenset({Role.ADMIN})
OFFICE = frozenset({Role.ADMIN, Role.DISPATCHER})
ANY_STAFF = frozenset(Role)
TECHNICIAN_ONLY = frozenset({Role.TECHNICIAN})

# The access matrix, operation by operation. A guard that widens (or narrows) must change this table too.
EXPECTED_ROLES: dict[str, frozenset[Role]] = {
    "GetCurrentUser": ANY_STAFF,
    "CreateServiceRequest": OFFICE,
    "ListJobs": ANY_STAFF,
    "GetJob": ANY_STAFF,
    "ListJobStatusEvents": ANY_STAFF,
    "TransitionJobStatus": ANY_STAFF,
    "TriageJob": OFFICE,
    "AssignJob": OFFICE,
    "CreatePlan": OFFICE,
    "ListPlans": OFFICE,
    "GetPlan": OFFICE,
    "GetPlanGeoJSON": OFFICE,
    "CancelPlan": OFFICE,
    "EditPlan": OFFICE,
    "ReoptimizePlan": OFFICE,
    "PublishPlan": OFFICE,
    "InsertEmergencyJob": OFFICE,
    "ReplanTechnicianAbsence": OFFICE,
    "ReplanOverrun": OFFICE,
    "ListJobSlots": OFFICE,
    "BookJobSlot": OFFICE,
    "RegisterDevice": TECHNICIAN_ONLY,
    "PushMutations": TECHNICIAN_ONLY,
    "PullChanges": TECHNICIAN_ONLY,
    "GetSyncDigest": TECHNICIAN_ONLY,
    "DeclareAttachment": TECHNICIAN_ONLY,
    "UploadAttachmentChunk": TECHNICIAN_ONLY,
    "DownloadAttachment": ANY_STAFF,
    "GetJobFieldReport": ANY_STAFF,
    "ListSyncExceptions": OFFICE,
    "ResolveSyncException": OFFICE,
    "ListOutboxMessages": OFFICE,
    "RetryOutboxMessage": OFFICE,
    "ListWarnings": OFFICE,
    "GetKpis": OFFICE,
    "GetKpiCharts": OFFICE,
    "ExportKpis": OFFICE,
    "GetKpiSettings": OFFICE,
    "SetKpiSettings": ADMIN,
    "AcknowledgeWarning": OFFICE,
    "ListCustomers": OFFICE,
    "GetCustomer": OFFICE,
    "CreateCustomer": OFFICE,
    "UpdateCustomer": OFFICE,
    "ListSites": OFFICE,
    "CreateSite": OFFICE,
    "UpdateSite": OFFICE,
    "ListTechnicians": OFFICE,
    "GetTechnician": OFFICE,
    "CreateTechnician": OFFICE,
    "UpdateTechnician": OFFICE,
    "ListShifts": OFFICE,
    "CreateShift": OFFICE,
    "DeleteShift": OFFICE,
    "ListSkills": OFFICE,
    "CreateSkill": OFFICE,
    "UpdateSkill": OFFICE,
    "DeleteSkill": OFFICE,
    "ListTerritories": OFFICE,
    "CreateTerritory": OFFICE,
    "UpdateTerritory": OFFICE,
    "DeleteTerritory": OFFICE,
    "ListServiceTypes": OFFICE,
    "CreateServiceType": OFFICE,
    "UpdateServiceType": OFFICE,
    "DeleteServiceType": OFFICE,
    "ListSlaPolicies": OFFICE,
    "SetSlaPolicy": ADMIN,
    "ListUsers": ADMIN,
    "CreateUser": ADMIN,
    "CompleteJob": TECHNICIAN_ONLY,
    "GetCompletionCertificate": ANY_STAFF,
    "CreateComplaint": OFFICE,
    "ListComplaints": OFFICE,
    "GetComplaint": OFFICE,
    "AddComplaintAction": OFFICE,
    "ResolveComplaint": OFFICE,
    "SendCustomerLink": OFFICE,
    "ListComplaintPolicies": OFFICE,
    "SetComplaintPolicy": ADMIN,
}

OPERATION_ID = re.compile(r"^[A-Z][a-z]+[A-Z][A-Za-z]+$")
REQUIRED_OPERATIONS = {
    "CreateServiceRequest",
    "ListJobs",
    "GetJob",
    "TransitionJobStatus",
    "ListTechnicians",
    "CreateTechnician",
    "ListCustomers",
}

# A world user per role, to knock on every door.
CALLER = {Role.ADMIN: "admin", Role.DISPATCHER: "disp_north", Role.TECHNICIAN: "tech_n1"}


# The route inventory ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # as declared, e.g. /api/jobs/{job_id:uuid}
    handler: HTTPRouteHandler

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def operation_id(self) -> str | None:
        value = self.handler.operation_id
        return value if isinstance(value, str) else None

    def roles(self) -> frozenset[Role] | None:
        """The roles every role guard on the handler admits (controller guards included); None: no role guard."""
        admitted: frozenset[Role] | None = None
        for guard in self.handler.resolve_guards():
            guard = getattr(guard, "func", guard)  # Litestar wraps each guard in an AsyncCallable
            roles = getattr(guard, "allowed_roles", None)
            if roles is not None and guard.__module__ == "api.auth":
                admitted = frozenset(roles) if admitted is None else admitted & frozenset(roles)
        return admitted

    def url(self) -> str:
        return concrete(self.path)


def concrete(path: str) -> str:
    """A URL for a declared path: random ids (a guard answers before any lookup), valid values elsewhere."""

    def fill(match: re.Match[str]) -> str:
        name, kind = match.group(1), match.group(2)
        if kind == "uuid":
            return str(uuid.uuid4())
        return "normal" if name == "priority" else "x"

    return re.sub(r"\{(\w+):(\w+)\}", fill, path)


def is_generated_options(handler: HTTPRouteHandler) -> bool:
    """Litestar's automatic OPTIONS answer (an `Allow` header, no body), added to every path."""
    return handler.http_methods == {"OPTIONS"} and "create_options_handler" in handler.fn.__qualname__


def endpoints(app: Litestar) -> Iterator[Endpoint]:
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if isinstance(handler, HTTPRouteHandler) and not is_generated_options(handler):
                for method in sorted(handler.http_methods):
                    yield Endpoint(method, route.path, handler)


def guarded(app: Litestar) -> list[Endpoint]:
    return [e for e in endpoints(app) if (e.method, e.path) not in PUBLIC]


# Fixtures -------------------------------------------------------------------------------------------------------


@pytest.fixture
def app(client: TestClient[Any]) -> Litestar:
    application: Litestar = client.app
    return application


@pytest.fixture
def accounts(
    sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> dict[str, tuple[uuid.UUID, Role]]:
    """who -> (user id, role) for every world user."""

    async def load() -> dict[str, tuple[uuid.UUID, Role]]:
        async with sessionmaker() as s:
            by_email = {u.email: (u.id, u.role) for u in await s.scalars(sa.select(m.User))}
        return {who: by_email[email] for who, email in world.users.items()}

    return asyncio.run(load())


DROP = object()


@pytest.fixture
def craft(settings: Settings, accounts: dict[str, tuple[uuid.UUID, Role]]) -> Callable[..., dict[str, str]]:
    """craft(who, secret=..., exp=..., aud=DROP, ...) -> bearer headers for a hand-made token with the claims
    `api.auth.issue_token` puts in one, each of which a keyword replaces (or removes, with DROP)."""

    def make(
        who: str = "admin", *, secret: str | None = None, algorithm: str = "HS256", **claims: Any
    ) -> dict[str, str]:
        now = int(time.time())
        payload: dict[str, Any] = {
            "sub": str(accounts[who][0]),
            "iat": now,
            "exp": now + 600,
            "iss": settings.jwt_issuer,
            "aud": settings.jwt_audience,
            "typ": ACCESS_TOKEN_TYPE,
            "role": accounts[who][1].value,
        }
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not DROP}
        key = secret if secret is not None else settings.jwt_secret
        token = jwt.encode(payload, key if algorithm != "none" else None, algorithm=algorithm)
        return {"Authorization": f"Bearer {token}"}

    return make


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status, body
    assert body.get("detail"), body
    return body


# The inventory itself -------------------------------------------------------------------------------------------


def test_every_route_is_guarded_or_explicitly_public(app: Litestar) -> None:
    found = list(endpoints(app))
    assert len(found) > len(EXPECTED_ROLES), "the route inventory looks empty; is the app wired?"
    unguarded = [e.label for e in found if (e.method, e.path) not in PUBLIC and not e.roles()]
    assert unguarded == [], f"routes with no role guard from api.auth and not in PUBLIC: {unguarded}"


def test_public_list_is_exact_and_public_routes_skip_auth(app: Litestar) -> None:
    declared = {(e.method, e.path) for e in endpoints(app)}
    assert declared >= PUBLIC, f"PUBLIC lists routes that no longer exist: {sorted(PUBLIC - declared)}"
    for e in endpoints(app):
        excluded = bool(e.handler.opt.get("exclude_from_auth")) or any(
            re.match(p, e.path) for p in PUBLIC_PATHS
        )
        if (e.method, e.path) in PUBLIC:
            assert excluded, f"{e.label} is listed PUBLIC but the JWT middleware still requires a token"
            assert not e.roles(), f"{e.label} is PUBLIC yet carries a role guard"
        else:
            assert not excluded, f"{e.label} is excluded from authentication but is not in PUBLIC"


def test_guards_match_the_access_matrix(app: Litestar) -> None:
    actual = {e.operation_id: e.roles() for e in guarded(app)}
    assert set(actual) == set(EXPECTED_ROLES), (
        f"new: {sorted(map(str, set(actual) - set(EXPECTED_ROLES)))}, gone: {sorted(set(EXPECTED_ROLES) - set(actual))}"
    )
    wrong = {op: sorted(roles or ()) for op, roles in actual.items() if roles != EXPECTED_ROLES[str(op)]}
    assert wrong == {}, f"guards that differ from the access matrix: {wrong}"


def test_every_handler_declares_its_operation_id(app: Litestar) -> None:
    missing = [
        e.label for e in endpoints(app) if e.handler.resolve_include_in_schema() and not e.operation_id
    ]
    assert missing == [], f"handlers relying on a generated operation id: {missing}"


def test_openapi_operation_ids_are_verb_noun_unique_and_complete(client: TestClient[Any]) -> None:
    response = client.get("/schema/openapi.json")
    assert response.status_code == 200
    ids: list[Any] = [
        op.get("operationId")
        for item in response.json()["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "responses" in op
    ]
    assert ids, "the document lists no operations"
    assert [i for i in ids if not isinstance(i, str) or not OPERATION_ID.match(i)] == []
    assert sorted(str(i) for i in set(ids) if ids.count(i) > 1) == []
    assert REQUIRED_OPERATIONS - set(ids) == set()


# Roles ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/customers", None),
        ("POST", "/api/customers", {"name": "Ada", "phone": "+33612340000"}),
        (
            "POST",
            "/api/service-requests",
            {"channel": "phone", "description": "leak", "customer": {"name": "A"}},
        ),
        ("GET", "/api/technicians", None),
        ("GET", "/api/users", None),
    ],
)
def test_technician_is_refused_office_routes(
    client: TestClient[Any], auth: Any, snapshot: Any, method: str, path: str, body: Any
) -> None:
    before = snapshot()
    response = client.request(method, path, json=body, headers=auth("tech_n1"))
    assert_problem(response, 403)
    assert snapshot() == before


def test_every_guard_refuses_the_roles_it_does_not_admit(
    client: TestClient[Any], app: Litestar, craft: Callable[..., dict[str, str]], snapshot: Any
) -> None:
    before = snapshot()
    wrong: list[str] = []
    for e in guarded(app):
        for role in sorted(set(Role) - (e.roles() or frozenset())):
            response = client.request(e.method, e.url(), json={}, headers=craft(CALLER[role]))
            if response.status_code != 403 or not response.headers["content-type"].startswith(PROBLEM_JSON):
                wrong.append(f"{e.label} as {role}: {response.status_code}")
    assert wrong == []
    assert snapshot() == before


def test_every_guard_admits_the_roles_it_names(
    client: TestClient[Any], app: Litestar, craft: Callable[..., dict[str, str]], snapshot: Any
) -> None:
    """Admitted callers get past the guard: whatever the answer (400, 404, 428...), it is not 401 or 403."""
    before = snapshot()
    refused: list[str] = []
    for e in guarded(app):
        for role in sorted(e.roles() or ()):
            response = client.request(e.method, e.url(), json={}, headers=craft(CALLER[role]))
            if response.status_code in (401, 403) or response.status_code >= 500:
                refused.append(f"{e.label} as {role}: {response.status_code} {response.text[:120]}")
    assert refused == []
    assert snapshot() == before, "an empty body or a random id changed something"


def test_role_claim_in_the_token_is_not_trusted(
    client: TestClient[Any], craft: Callable[..., dict[str, str]]
) -> None:
    """Roles come from the account, not the token: a technician's token claiming 'admin' is still a technician."""
    assert_problem(client.get("/api/customers", headers=craft("tech_n1", role="admin")), 403)


# Tokens ---------------------------------------------------------------------------------------------------------


def test_no_token_is_401_on_every_guarded_route(
    client: TestClient[Any], app: Litestar, snapshot: Any
) -> None:
    before = snapshot()
    wrong = []
    for e in guarded(app):
        response = client.request(e.method, e.url(), json={})
        if response.status_code != 401 or not response.headers["content-type"].startswith(PROBLEM_JSON):
            wrong.append(f"{e.label}: {response.status_code}")
    assert wrong == []
    assert snapshot() == before


def test_a_crafted_token_with_the_right_claims_works(
    client: TestClient[Any], craft: Callable[..., dict[str, str]], world: World
) -> None:
    """The control for the cases below: the claims are right, so each 401 there is caused by its one change."""
    response = client.get("/api/me", headers=craft("admin"))
    assert response.status_code == 200, response.text
    assert response.json()["email"] == world.users["admin"]


BAD_TOKENS: dict[str, dict[str, Any]] = {
    "signed with another secret": {"secret": "another-secret-" + "y" * 32},
    "expired": {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200},
    "wrong audience": {"aud": "someone-else"},
    "wrong issuer": {"iss": "someone-else"},
    "not an access token": {"typ": "refresh"},
    "no typ claim": {"typ": DROP},
    "no exp claim": {"exp": DROP},
    "no aud claim": {"aud": DROP},
    "unsigned (alg none)": {"algorithm": "none"},
    "sub not a uuid": {"sub": "admin"},
    "sub of no account": {"sub": str(uuid.uuid4())},
}


@pytest.mark.parametrize("change", list(BAD_TOKENS), ids=list(BAD_TOKENS))
def test_bad_tokens_are_401(
    client: TestClient[Any], craft: Callable[..., dict[str, str]], change: str
) -> None:
    assert_problem(client.get("/api/me", headers=craft("admin", **BAD_TOKENS[change])), 401)


@pytest.mark.parametrize(
    "authorization", ["Bearer", "Bearer not.a.jwt", "Basic YWRtaW46cGFzc3dvcmQ=", "bearer", ""]
)
def test_malformed_authorization_headers_are_401(
    client: TestClient[Any], world: World, authorization: str
) -> None:
    assert_problem(client.get("/api/me", headers={"Authorization": authorization}), 401)


def test_bad_token_on_a_write_is_401_and_writes_nothing(
    client: TestClient[Any], craft: Callable[..., dict[str, str]], snapshot: Any
) -> None:
    before = snapshot()
    response = client.post(
        "/api/customers",
        json={"name": "Eve", "phone": "+33612349999"},
        headers=craft("admin", aud="someone-else"),
    )
    assert_problem(response, 401)
    assert snapshot() == before


def test_token_of_a_deactivated_account_is_401(
    client: TestClient[Any],
    craft: Callable[..., dict[str, str]],
    sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
) -> None:
    headers = craft("disp_north")
    assert client.get("/api/me", headers=headers).status_code == 200

    async def deactivate() -> None:
        async with sessionmaker() as s:
            s.info["actor"] = "test:deactivate"
            user = await s.scalar(sa.select(m.User).where(m.User.email == world.users["disp_north"]))
            assert user is not None
            user.active = False
            await s.commit()

    asyncio.run(deactivate())
    assert_problem(client.get("/api/me", headers=headers), 401)


# Automatic OPTIONS answers ---------------------------------------------------------------------------------------


def test_options_never_fails(
    client: TestClient[Any], app: Litestar, craft: Callable[..., dict[str, str]]
) -> None:
    paths = sorted({concrete(route.path) for route in app.routes})
    failing = []
    for path in paths:
        for headers in ({}, craft("admin")):
            response = client.options(path, headers=headers)
            if response.status_code >= 500:
                failing.append(
                    f"OPTIONS {path} ({'with' if headers else 'without'} a token): {response.status_code}"
                )
    assert failing == []
