"""Bad input on the routes of issue 6 (completion, complaints, complaint policies, customer links, booking with an
offer): a 4xx problem document, never a 500, and nothing written.

The table-driven part follows tests/api/test_bad_input.py and reuses its defect generators: malformed JSON, each
field of the wrong type, each required field missing, an unknown field, ids that do not exist; then the row's valid
request is sent and must succeed, proving each refusal was caused by its one defect. The explicit cases add
out-of-range values, oversize strings, malformed ids in paths and query strings, and mass-assignment attempts.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.api.test_bad_input import (  # noqa: F401 - `tokens`, `caller`: fixtures
    Caller,
    Write,
    assert_problem,
    body_defects,
    caller,
    id_defects,
    mentioned,
    struct_fields,
    tokens,
)
from tests.conftest import World

# Preparing the objects the writes act on ------------------------------------------------------------------------


def _in_progress(client: TestClient[Any], headers: dict[str, str], world: World) -> dict[str, str]:
    """The dispatched job, moved on by its technician until it can be completed."""
    job = str(world.jobs["north_assigned"])
    for to in ("en_route", "on_site", "in_progress"):
        response = client.post(f"/api/jobs/{job}/transitions", json={"to_status": to}, headers=headers)
        assert response.status_code == 200, response.text
    return {"working": job}


def _complaint(client: TestClient[Any], headers: dict[str, str], world: World) -> dict[str, str]:
    response = client.post(
        "/api/complaints",
        json={
            "category": "technical",
            "channel": "phone",
            "description": "Still leaking",
            "job_id": str(world.jobs["north_open"]),
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return {"complaint": response.json()["id"]}


def _category(client: TestClient[Any], headers: dict[str, str], world: World) -> dict[str, str]:
    return {"category": "billing"}


COMPLETE = {
    "outcome": "fixed",
    "summary": "Trap seal replaced",
    "latitude": 45.781,
    "longitude": 4.84,
    "remote_sign_off": True,
}

WRITES: list[Write] = [
    Write(
        "CompleteJob",
        "POST",
        "/api/jobs/{working}/completion",
        "tech_n1",
        lambda w: dict(COMPLETE),
        200,
        prepare=_in_progress,
    ),
    Write(
        "CreateComplaint",
        "POST",
        "/api/complaints",
        "disp_north",
        lambda w: {
            "category": "service",
            "channel": "phone",
            "description": "The technician left a mess",
            "job_id": str(w.jobs["north_open"]),
        },
        201,
        refs=(("job_id",), ("customer_id",)),
    ),
    Write(
        "AddComplaintAction",
        "POST",
        "/api/complaints/{complaint}/actions",
        "disp_north",
        lambda w: {"kind": "contacted_customer", "note": "Called back, visit offered"},
        200,
        refs=(("owner_user_id",),),
        prepare=_complaint,
    ),
    Write(
        "ResolveComplaint",
        "POST",
        "/api/complaints/{complaint}/resolution",
        "disp_north",
        lambda w: {"resolution": "Second visit booked, free of charge"},
        200,
        prepare=_complaint,
    ),
    Write(
        "SetComplaintPolicy",
        "PUT",
        "/api/complaint-policies/{category}",
        "admin",
        lambda w: {"respond_within_s": 3600, "resolve_within_s": 86400},
        200,
        prepare=_category,
        # the "id" is a category: an unknown one fails the path's enum
        id_missing=frozenset({400, 404}),
    ),
    Write(
        "SendCustomerLink",
        "POST",
        "/api/jobs/{job}/customer-links",
        "disp_north",
        lambda w: {"purpose": "track"},
        201,
    ),
]


@pytest.mark.parametrize("w", WRITES, ids=str)
def test_bad_input_is_refused_and_changes_nothing(
    caller: Caller,  # noqa: F811
    client: TestClient[Any],
    world: World,
    tokens: dict[str, dict[str, str]],  # noqa: F811
    snapshot: Any,
    subtests: pytest.Subtests,
    w: Write,
) -> None:
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
    assert snapshot() != before


# Explicit cases: ranges, sizes, malformed ids, mass assignment ---------------------------------------------------------


@dataclass(frozen=True)
class Case:
    label: str
    method: str
    path: str  # placeholders: working, complaint, job, south_job, category
    body: Any
    statuses: tuple[int, ...] = (400,)
    mentions: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


LONG = "x" * 4001

COMPLETION_CASES = [
    Case(
        "latitude above 90",
        "POST",
        "/api/jobs/{working}/completion",
        {**COMPLETE, "latitude": 90.5},
        mentions="latitude",
    ),
    Case(
        "longitude below -180",
        "POST",
        "/api/jobs/{working}/completion",
        {**COMPLETE, "longitude": -181},
        mentions="longitude",
    ),
    Case(
        "summary of 4001 characters",
        "POST",
        "/api/jobs/{working}/completion",
        {**COMPLETE, "summary": LONG},
        mentions="summary",
    ),
    Case(
        "follow-up reason of 4001 characters",
        "POST",
        "/api/jobs/{working}/completion",
        {**COMPLETE, "outcome": "follow_up", "follow_up_reason": LONG},
        mentions="follow_up_reason",
    ),
    Case(
        "unknown outcome",
        "POST",
        "/api/jobs/{working}/completion",
        {**COMPLETE, "outcome": "abandoned"},
        mentions="outcome",
    ),
    Case(
        "answers not an object",
        "POST",
        "/api/jobs/{working}/completion",
        {**COMPLETE, "answers": ["Water isolated"]},
        mentions="answers",
    ),
    Case(
        "an answer that is null",
        "POST",
        "/api/jobs/{working}/completion",
        {**COMPLETE, "answers": {"outcome": None}},
    ),
    Case(
        "an answer that is an object",
        "POST",
        "/api/jobs/{working}/completion",
        {**COMPLETE, "answers": {"outcome": {"a": 1}}},
    ),
    Case(
        "an answer of 2001 characters",
        "POST",
        "/api/jobs/{working}/completion",
        {**COMPLETE, "answers": {"outcome": "y" * 2001}},
    ),
    # An item name the checklist cannot hold: refused by the schema (400) or as not on the checklist (422).
    Case(
        "an empty item name",
        "POST",
        "/api/jobs/{working}/completion",
        {**COMPLETE, "answers": {"": True}},
        statuses=(400, 422),
    ),
    Case(
        "an item name of 101 characters",
        "POST",
        "/api/jobs/{working}/completion",
        {**COMPLETE, "answers": {"i" * 101: True}},
        statuses=(400, 422),
    ),
    Case(
        "101 answers",
        "POST",
        "/api/jobs/{working}/completion",
        {**COMPLETE, "answers": {f"item {i}": True for i in range(101)}},
    ),
    Case(
        "remote_sign_off as a string",
        "POST",
        "/api/jobs/{working}/completion",
        {**COMPLETE, "remote_sign_off": "true"},
    ),
    Case("a malformed job id", "POST", "/api/jobs/not-a-uuid/completion", COMPLETE, statuses=(400, 404, 405)),
    # Mass assignment: what only the server decides.
    Case(
        "technician sends status",
        "POST",
        "/api/jobs/{working}/completion",
        {**COMPLETE, "status": "closed"},
        mentions="status",
    ),
    Case(
        "technician sends technician_id",
        "POST",
        "/api/jobs/{working}/completion",
        {**COMPLETE, "technician_id": str(uuid.UUID(int=7))},
        mentions="technician_id",
    ),
    Case(
        "technician sends sign_off",
        "POST",
        "/api/jobs/{working}/completion",
        {**COMPLETE, "sign_off": "on_site"},
        mentions="sign_off",
    ),
    Case(
        "technician sends completed_at",
        "POST",
        "/api/jobs/{working}/completion",
        {**COMPLETE, "completed_at": "2020-01-01T00:00:00+00:00"},
        mentions="completed_at",
    ),
    Case(
        "technician sends follow_up_job_id",
        "POST",
        "/api/jobs/{working}/completion",
        {**COMPLETE, "follow_up_job_id": str(uuid.UUID(int=8))},
        mentions="follow_up_job_id",
    ),
]

COMPLAINT = {"category": "billing", "channel": "phone", "description": "Charged twice"}

COMPLAINT_CASES = [
    Case(
        "description of 4001 characters",
        "POST",
        "/api/complaints",
        {**COMPLAINT, "description": LONG, "job_id": "{job}"},
        mentions="description",
    ),
    Case(
        "empty description",
        "POST",
        "/api/complaints",
        {**COMPLAINT, "description": "", "job_id": "{job}"},
        mentions="description",
    ),
    Case(
        "unknown category",
        "POST",
        "/api/complaints",
        {**COMPLAINT, "category": "rudeness", "job_id": "{job}"},
        mentions="category",
    ),
    Case(
        "unknown channel",
        "POST",
        "/api/complaints",
        {**COMPLAINT, "channel": "pigeon", "job_id": "{job}"},
        mentions="channel",
    ),
    Case("malformed job id", "POST", "/api/complaints", {**COMPLAINT, "job_id": "12345"}, mentions="job_id"),
    Case(
        "malformed customer id",
        "POST",
        "/api/complaints",
        {**COMPLAINT, "customer_id": "zz"},
        mentions="customer_id",
    ),
    Case(
        "dispatcher sends status",
        "POST",
        "/api/complaints",
        {**COMPLAINT, "job_id": "{job}", "status": "closed"},
        mentions="status",
    ),
    Case(
        "dispatcher sends territory_id",
        "POST",
        "/api/complaints",
        {**COMPLAINT, "job_id": "{job}", "territory_id": "{south_territory}"},
        mentions="territory_id",
    ),
    Case(
        "dispatcher sends responded_at",
        "POST",
        "/api/complaints",
        {**COMPLAINT, "job_id": "{job}", "responded_at": "2020-01-01T00:00:00+00:00"},
        mentions="responded_at",
    ),
    Case(
        "dispatcher sends version",
        "POST",
        "/api/complaints",
        {**COMPLAINT, "job_id": "{job}", "version": 9},
        mentions="version",
    ),
    Case(
        "dispatcher sends respond_by",
        "POST",
        "/api/complaints",
        {**COMPLAINT, "job_id": "{job}", "respond_by": "2099-01-01T00:00:00+00:00"},
        mentions="respond_by",
    ),
    Case(
        "dispatcher sends owner_user_id",
        "POST",
        "/api/complaints",
        {**COMPLAINT, "job_id": "{job}", "owner_user_id": str(uuid.UUID(int=9))},
        mentions="owner_user_id",
    ),
    Case(
        "note of 4001 characters",
        "POST",
        "/api/complaints/{complaint}/actions",
        {"kind": "note", "note": LONG},
        mentions="note",
    ),
    Case(
        "empty note",
        "POST",
        "/api/complaints/{complaint}/actions",
        {"kind": "note", "note": ""},
        mentions="note",
    ),
    Case(
        "unknown action kind",
        "POST",
        "/api/complaints/{complaint}/actions",
        {"kind": "escalated"},
        mentions="kind",
    ),
    Case(
        "malformed owner id",
        "POST",
        "/api/complaints/{complaint}/actions",
        {"kind": "owner_changed", "owner_user_id": "me"},
        mentions="owner_user_id",
    ),
    Case(
        "action sends status",
        "POST",
        "/api/complaints/{complaint}/actions",
        {"kind": "note", "note": "x", "status": "closed"},
        mentions="status",
    ),
    Case(
        "action sends responded_at",
        "POST",
        "/api/complaints/{complaint}/actions",
        {"kind": "note", "note": "x", "responded_at": "2020-01-01T00:00:00+00:00"},
        mentions="responded_at",
    ),
    Case(
        "action sends version",
        "POST",
        "/api/complaints/{complaint}/actions",
        {"kind": "note", "note": "x", "version": 1},
        mentions="version",
    ),
    Case(
        "action sends territory_id",
        "POST",
        "/api/complaints/{complaint}/actions",
        {"kind": "note", "note": "x", "territory_id": "{south_territory}"},
        mentions="territory_id",
    ),
    Case(
        "action on a malformed complaint id",
        "POST",
        "/api/complaints/not-a-uuid/actions",
        {"kind": "note", "note": "x"},
        statuses=(400, 404, 405),
    ),
    Case(
        "action with an If-Match that is no ETag",
        "POST",
        "/api/complaints/{complaint}/actions",
        {"kind": "note", "note": "x"},
        statuses=(428,),
        headers={"If-Match": "abc"},
    ),
    Case(
        "resolution of 4001 characters",
        "POST",
        "/api/complaints/{complaint}/resolution",
        {"resolution": LONG},
        mentions="resolution",
    ),
    Case(
        "resolution sends status",
        "POST",
        "/api/complaints/{complaint}/resolution",
        {"resolution": "ok", "status": "closed"},
        mentions="status",
    ),
    Case(
        "resolution sends customer_satisfied",
        "POST",
        "/api/complaints/{complaint}/resolution",
        {"resolution": "ok", "customer_satisfied": True},
        mentions="customer_satisfied",
    ),
    Case(
        "resolution with a stale If-Match",
        "POST",
        "/api/complaints/{complaint}/resolution",
        {"resolution": "ok"},
        statuses=(412,),
        headers={"If-Match": '"99"'},
    ),
    Case(
        "resolving a malformed complaint id",
        "POST",
        "/api/complaints/123/resolution",
        {"resolution": "ok"},
        statuses=(400, 404, 405),
    ),
]

POLICY = {"respond_within_s": 3600, "resolve_within_s": 86400}

POLICY_CASES = [
    Case(
        "respond within 59 s",
        "PUT",
        "/api/complaint-policies/{category}",
        {**POLICY, "respond_within_s": 59},
        mentions="respond_within_s",
    ),
    Case(
        "respond within 0 s",
        "PUT",
        "/api/complaint-policies/{category}",
        {**POLICY, "respond_within_s": 0},
        mentions="respond_within_s",
    ),
    Case(
        "negative resolve",
        "PUT",
        "/api/complaint-policies/{category}",
        {**POLICY, "resolve_within_s": -1},
        mentions="resolve_within_s",
    ),
    Case(
        "resolve beyond a year",
        "PUT",
        "/api/complaint-policies/{category}",
        {**POLICY, "resolve_within_s": 366 * 86400 + 1},
        mentions="resolve_within_s",
    ),
    Case(
        "a huge integer", "PUT", "/api/complaint-policies/{category}", {**POLICY, "resolve_within_s": 10**30}
    ),
    Case(
        "a fraction of a second",
        "PUT",
        "/api/complaint-policies/{category}",
        {**POLICY, "respond_within_s": 3600.5},
        mentions="respond_within_s",
    ),
    Case(
        "resolve before respond",
        "PUT",
        "/api/complaint-policies/{category}",
        {"respond_within_s": 7200, "resolve_within_s": 3600},
        statuses=(422,),
    ),
    Case("unknown category", "PUT", "/api/complaint-policies/urgent", POLICY, statuses=(400, 404)),
    Case(
        "policy sends updated_at",
        "PUT",
        "/api/complaint-policies/{category}",
        {**POLICY, "updated_at": "2020-01-01T00:00:00+00:00"},
        mentions="updated_at",
    ),
    Case(
        "policy sends category",
        "PUT",
        "/api/complaint-policies/{category}",
        {**POLICY, "category": "service"},
        mentions="category",
    ),
]

LINK_CASES = [
    Case(
        "unknown purpose",
        "POST",
        "/api/jobs/{job}/customer-links",
        {"purpose": "payment"},
        mentions="purpose",
    ),
    Case(
        "malformed complaint id",
        "POST",
        "/api/jobs/{job}/customer-links",
        {"purpose": "complaint", "complaint_id": "c-1"},
        mentions="complaint_id",
    ),
    Case(
        "link sends expires_at",
        "POST",
        "/api/jobs/{job}/customer-links",
        {"purpose": "track", "expires_at": "2099-01-01T00:00:00+00:00"},
        mentions="expires_at",
    ),
    Case(
        "link sends single_use",
        "POST",
        "/api/jobs/{job}/customer-links",
        {"purpose": "sign_off", "single_use": False},
        mentions="single_use",
    ),
    Case(
        "link sends token",
        "POST",
        "/api/jobs/{job}/customer-links",
        {"purpose": "track", "token": "x" * 43},
        mentions="token",
    ),
    Case(
        "link sends job_id",
        "POST",
        "/api/jobs/{job}/customer-links",
        {"purpose": "track", "job_id": "{south_job}"},
        mentions="job_id",
    ),
    Case(
        "link for a malformed job id",
        "POST",
        "/api/jobs/nope/customer-links",
        {"purpose": "track"},
        statuses=(400, 404, 405),
    ),
    Case(
        "booking offer as a string",
        "POST",
        "/api/jobs/{job}/slots/booking",
        {"starts_at": "2030-03-04T08:00:00+01:00", "ends_at": "2030-03-04T10:00:00+01:00", "offer": "yes"},
        mentions="offer",
    ),
    Case(
        "booking offer as a number",
        "POST",
        "/api/jobs/{job}/slots/booking",
        {"starts_at": "2030-03-04T08:00:00+01:00", "ends_at": "2030-03-04T10:00:00+01:00", "offer": 1},
        mentions="offer",
    ),
]

READ_CASES = [
    Case("overdue not a boolean", "GET", "/api/complaints?overdue=maybe", None),
    Case("unknown status", "GET", "/api/complaints?status=lost", None),
    Case("unknown category", "GET", "/api/complaints?category=rudeness", None),
    Case("malformed job id", "GET", "/api/complaints?job_id=42", None),
    Case("malformed owner id", "GET", "/api/complaints?owner_user_id=me", None),
    Case("limit of 0", "GET", "/api/complaints?limit=0", None),
    Case("limit of 100000", "GET", "/api/complaints?limit=100000", None),
    Case("negative offset", "GET", "/api/complaints?offset=-1", None),
    Case("a malformed complaint id", "GET", "/api/complaints/not-a-uuid", None, statuses=(400, 404)),
    Case("an unknown complaint", "GET", "/api/complaints/" + str(uuid.UUID(int=3)), None, statuses=(404,)),
]

GROUPS: dict[str, tuple[str, list[Case]]] = {
    "completion": ("tech_n1", COMPLETION_CASES),
    "complaints": ("disp_north", COMPLAINT_CASES),
    "policies": ("admin", POLICY_CASES),
    "links and booking": ("disp_north", LINK_CASES),
    "complaint reads": ("disp_north", READ_CASES),
}


def _fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**names) if "{" in value else value
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    return value


@pytest.mark.parametrize("group", list(GROUPS))
def test_out_of_range_oversize_malformed_and_privileged_input_is_refused(
    client: TestClient[Any],
    world: World,
    tokens: dict[str, dict[str, str]],  # noqa: F811
    snapshot: Any,
    subtests: pytest.Subtests,
    group: str,
) -> None:
    who, cases = GROUPS[group]
    names = {
        "job": str(world.jobs["north_open"]),
        "south_job": str(world.jobs["south_open"]),
        "south_territory": str(world.territories["south"]),
        "category": "service",
    }
    if group == "completion":
        names |= _in_progress(client, tokens["tech_n1"], world)
    if group == "complaints":
        names |= _complaint(client, tokens["disp_north"], world)
    before = snapshot()
    for case in cases:
        with subtests.test(msg=case.label):
            response = client.request(
                case.method,
                case.path.format(**names),
                json=_fill(case.body, names),
                headers={**tokens[who], **case.headers},
            )
            assert response.status_code != 500
            problem = assert_problem(response, *case.statuses)
            if case.mentions:
                assert mentioned(problem, case.mentions), problem
    assert snapshot() == before, "a refused request changed the database"
