"""Complaints (issue 6) through the office's API and the customer's verdict through their link.

Deadlines follow the category's policy; the first real action is the response; an owner is an active dispatcher of
the territory (or an admin); a resolution waits for the customer's word: satisfied closes it, unhappy reopens it
with fresh deadlines and, for work done wrong, a rework job. Dispatchers of other territories see none of it.
The last test drives random sequences of actions, resolutions and verdicts and checks the invariants after each.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession

from domain import links
from domain import models as m
from domain.enums import ComplaintStatus, JobStatus, Role
from tests.api.database import Maker, fetch, in_db
from tests.conftest import World

PROBLEM_JSON = "application/problem+json"
HTML = {"Accept": "text/html"}
STATUSES = {s.value for s in ComplaintStatus}


# Helpers ----------------------------------------------------------------------------------------------------------


def user_id(sessionmaker: Maker, world: World, who: str) -> str:
    (found,) = fetch(sessionmaker, sa.select(m.User.id).where(m.User.email == world.users[who]))
    return str(found)


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def file_complaint(client: TestClient[Any], headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post(
        "/api/complaints",
        json={"category": "service", "channel": "phone", "description": "The technician was late", **body},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def act(client: TestClient[Any], headers: dict[str, str], complaint: str, kind: str, **body: Any) -> Any:
    return client.post(f"/api/complaints/{complaint}/actions", json={"kind": kind, **body}, headers=headers)


def resolve(client: TestClient[Any], headers: dict[str, str], complaint: str, text: str, **extra: Any) -> Any:
    return client.post(
        f"/api/complaints/{complaint}/resolution",
        json={"resolution": text},
        headers={**headers, **extra.get("more_headers", {})},
    )


def complaint_token(client: TestClient[Any], sessionmaker: Maker, complaint: str) -> str:
    """The newest link the customer was sent to follow this complaint, as they received it."""
    found = fetch(
        sessionmaker,
        sa.select(m.CustomerLink)
        .where(m.CustomerLink.complaint_id == uuid.UUID(complaint))
        .order_by(m.CustomerLink.created_at.desc())
        .limit(1),
    )
    assert found, "the customer was sent no link for this complaint"
    return links.token_for(client.app.state.server_keys.link_secret, found[0])


def verdict(client: TestClient[Any], token: str, satisfied: bool) -> Any:
    return client.post(
        f"/c/{token}/verdict",
        data={"satisfied": "yes" if satisfied else "no", "comment": "my word"},
        headers=HTML,
        follow_redirects=False,
    )


def get(client: TestClient[Any], headers: dict[str, str], complaint: str) -> dict[str, Any]:
    response = client.get(f"/api/complaints/{complaint}", headers=headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def at(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def rework_jobs(sessionmaker: Maker, origin: uuid.UUID) -> list[m.Job]:
    return fetch(
        sessionmaker, sa.select(m.Job).where(m.Job.origin_job_id == origin, m.Job.origin_kind == "rework")
    )


# Policies and deadlines -------------------------------------------------------------------------------------------


def test_deadlines_follow_the_category_policy_which_only_an_admin_sets(
    client: TestClient[Any], auth: Any, world: World, snapshot: Any
) -> None:
    office = auth("disp_north")
    listed = client.get("/api/complaint-policies", headers=office)
    assert listed.status_code == 200, listed.text
    policies = {p["category"]: p for p in listed.json()}
    assert set(policies) == {"service", "technical", "billing"}
    assert all(p["respond_within_s"] <= p["resolve_within_s"] for p in policies.values())
    assert_problem(client.get("/api/complaint-policies", headers=auth("tech_n1")), 403)

    earlier = file_complaint(client, office, category="technical", job_id=str(world.jobs["north_open"]))
    received = at(earlier["received_at"])
    assert at(earlier["respond_by"]) - received == dt.timedelta(
        seconds=policies["technical"]["respond_within_s"]
    )
    assert at(earlier["resolve_by"]) - received == dt.timedelta(
        seconds=policies["technical"]["resolve_within_s"]
    )

    before = snapshot()
    wanted = {"respond_within_s": 600, "resolve_within_s": 7200}
    assert_problem(client.put("/api/complaint-policies/technical", json=wanted, headers=office), 403)
    inverted = {"respond_within_s": 7200, "resolve_within_s": 600}
    refused = assert_problem(
        client.put("/api/complaint-policies/technical", json=inverted, headers=auth("admin")), 422
    )
    assert refused["errors"][0]["field"] == "resolve_within_s"
    assert snapshot() == before

    changed = client.put("/api/complaint-policies/technical", json=wanted, headers=auth("admin"))
    assert changed.status_code == 200, changed.text
    assert changed.json()["category"] == "technical"
    assert {k: changed.json()[k] for k in wanted} == wanted
    relisted = {p["category"]: p for p in client.get("/api/complaint-policies", headers=office).json()}
    assert {k: relisted["technical"][k] for k in wanted} == wanted
    assert relisted["service"] == policies["service"]

    later = file_complaint(client, office, category="technical", job_id=str(world.jobs["north_open"]))
    received = at(later["received_at"])
    assert at(later["respond_by"]) - received == dt.timedelta(seconds=600)
    assert at(later["resolve_by"]) - received == dt.timedelta(seconds=7200)
    other = file_complaint(client, office, category="service", customer_id=str(world.customers["north"]))
    received = at(other["received_at"])
    assert at(other["respond_by"]) - received == dt.timedelta(seconds=policies["service"]["respond_within_s"])
    # A complaint filed before the change keeps its deadlines.
    assert get(client, office, earlier["id"])["respond_by"] == earlier["respond_by"]


# Filing --------------------------------------------------------------------------------------------------------------


def test_a_complaint_is_filed_about_a_job_or_about_a_customer(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: Maker, snapshot: Any
) -> None:
    office = auth("disp_north")
    about_job = client.post(
        "/api/complaints",
        json={
            "category": "technical",
            "channel": "email",
            "description": "  It leaks again  ",
            "job_id": str(world.jobs["north_assigned"]),
        },
        headers=office,
    )
    assert about_job.status_code == 201, about_job.text
    body = about_job.json()
    assert about_job.headers["etag"] == f'"{body["version"]}"'
    assert body["customer_id"] == str(world.customers["north"])
    assert body["territory_id"] == str(world.territories["north"])
    assert body["job_id"] == str(world.jobs["north_assigned"])
    assert body["description"] == "It leaks again"
    assert body["status"] == "open"
    assert body["responded_at"] is None
    assert body["overdue"] is False
    assert [a["kind"] for a in body["actions"]] == ["created"]
    # The customer is told it was received, with a link to follow it.
    told = fetch(
        sessionmaker,
        sa.select(m.OutboxMessage).where(m.OutboxMessage.kind == "complaint_received"),
    )
    assert sorted(x.channel for x in told) == ["email", "sms"]
    (link,) = fetch(sessionmaker, sa.select(m.CustomerLink).where(m.CustomerLink.id == told[0].link_id))
    assert link.complaint_id == uuid.UUID(body["id"])

    about_customer = file_complaint(
        client, office, category="billing", customer_id=str(world.customers["north"])
    )
    assert about_customer["job_id"] is None
    assert about_customer["territory_id"] == str(world.territories["north"])
    listed = client.get("/api/complaints", headers=office).json()
    assert {c["id"] for c in listed["items"]} == {body["id"], about_customer["id"]}

    before = snapshot()
    for wrong, field in (
        (
            {"job_id": str(world.jobs["north_open"]), "customer_id": str(world.customers["south"])},
            "customer_id",
        ),
        ({}, "job_id"),
        ({"customer_id": str(world.customers["north"]), "description": "   "}, "description"),
    ):
        refused = assert_problem(
            client.post(
                "/api/complaints",
                json={"category": "service", "channel": "phone", "description": "x", **wrong},
                headers=office,
            ),
            422,
        )
        assert refused["errors"][0]["field"] == field, refused
    assert snapshot() == before


def test_a_complaint_about_another_territorys_job_or_customer_is_refused_like_a_missing_one(
    client: TestClient[Any], auth: Any, world: World, snapshot: Any
) -> None:
    """Out of scope is indistinguishable from not existing (404, or 422 naming the field as for other references
    in a body), so ids cannot be probed; and nothing is written."""

    def file_as(who: str, ref: dict[str, str]) -> Any:
        return client.post(
            "/api/complaints",
            json={"category": "service", "channel": "phone", "description": "Rude", **ref},
            headers=auth(who),
        )

    before = snapshot()
    for who, field, theirs in (
        ("disp_north", "job_id", world.jobs["south_open"]),
        ("disp_north", "customer_id", world.customers["south"]),
        ("disp_south", "job_id", world.jobs["north_assigned"]),
        ("disp_south", "customer_id", world.customers["north"]),
    ):
        out_of_scope = file_as(who, {field: str(theirs)})
        missing = file_as(who, {field: str(uuid.uuid4())})
        assert out_of_scope.status_code in (404, 422), out_of_scope.text
        assert (out_of_scope.status_code, out_of_scope.json()["title"]) == (
            missing.status_code,
            missing.json()["title"],
        ), (who, field)
        problem = assert_problem(out_of_scope, out_of_scope.status_code)
        if out_of_scope.status_code == 422:
            assert problem["errors"][0]["field"] == field
    assert_problem(
        client.post(
            "/api/complaints",
            json={
                "category": "service",
                "channel": "phone",
                "description": "Rude",
                "customer_id": str(world.customers["north"]),
            },
            headers=auth("tech_n1"),
        ),
        403,
    )
    assert snapshot() == before


# Actions ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["contacted_customer", "rework_scheduled", "refund_requested"])
def test_the_first_action_other_than_a_note_is_the_response(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: Maker, kind: str
) -> None:
    office = auth("disp_north")
    complaint = file_complaint(client, auth("admin"), job_id=str(world.jobs["north_open"]))["id"]
    noted = act(client, office, complaint, "note", note="Called, no answer")
    assert noted.status_code == 200, noted.text
    assert noted.json()["responded_at"] is None
    assert noted.json()["status"] == "open"
    # The dispatcher who first handles an unowned complaint owns it.
    assert noted.json()["owner_user_id"] == user_id(sessionmaker, world, "disp_north")
    owner = act(
        client, office, complaint, "owner_changed", owner_user_id=user_id(sessionmaker, world, "admin")
    )
    assert owner.status_code == 200, owner.text
    assert owner.json()["responded_at"] is None

    before = dt.datetime.now(dt.UTC)
    responded = act(client, office, complaint, kind, note="done")
    assert responded.status_code == 200, responded.text
    first = responded.json()
    assert first["status"] == "in_progress"
    assert first["responded_at"] is not None
    assert before <= at(first["responded_at"]) <= dt.datetime.now(dt.UTC)
    assert [a["kind"] for a in first["actions"]] == ["created", "note", "owner_changed", kind]
    assert first["actions"][-1]["actor_user_id"] == user_id(sessionmaker, world, "disp_north")

    later = act(client, office, complaint, "contacted_customer", note="called again").json()
    assert later["responded_at"] == first["responded_at"]
    assert later["status"] == "in_progress"


def test_an_owner_is_an_active_dispatcher_of_the_territory_or_an_admin(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: Maker, snapshot: Any
) -> None:
    office = auth("disp_north")
    complaint = file_complaint(client, office, customer_id=str(world.customers["north"]))["id"]

    async def inactive_dispatcher(s: AsyncSession) -> str:
        north = await s.get_one(m.Territory, world.territories["north"])
        user = m.User(
            email="gone@example.com",
            full_name="Gone",
            password_hash="x",
            role=Role.DISPATCHER,
            active=False,
            territories=[north],
        )
        s.add(user)
        await s.flush()
        return str(user.id)

    gone = in_db(sessionmaker, inactive_dispatcher)
    before = snapshot()
    for owner in (
        user_id(sessionmaker, world, "disp_south"),
        user_id(sessionmaker, world, "tech_n1"),
        gone,
        str(uuid.uuid4()),
    ):
        refused = assert_problem(act(client, office, complaint, "owner_changed", owner_user_id=owner), 422)
        assert refused["errors"][0]["field"] == "owner_user_id"
    assert_problem(act(client, office, complaint, "owner_changed"), 422)
    assert_problem(
        act(
            client,
            office,
            complaint,
            "note",
            note="x",
            owner_user_id=user_id(sessionmaker, world, "disp_north"),
        ),
        422,
    )
    assert snapshot() == before

    for who in ("admin", "disp_north"):
        owner = user_id(sessionmaker, world, who)
        changed = act(client, office, complaint, "owner_changed", owner_user_id=owner)
        assert changed.status_code == 200, changed.text
        assert changed.json()["owner_user_id"] == owner


def test_the_steps_of_the_system_cannot_be_written_by_hand(
    client: TestClient[Any], auth: Any, world: World, snapshot: Any
) -> None:
    office = auth("disp_north")
    complaint = file_complaint(client, office, customer_id=str(world.customers["north"]))["id"]
    before = snapshot()
    for kind in ("created", "resolved", "customer_satisfied", "customer_unsatisfied", "reopened"):
        refused = assert_problem(act(client, office, complaint, kind, note="by hand"), 422)
        assert refused["errors"][0]["field"] == "kind", kind
    stale = act(client, {**office, "If-Match": '"7"'}, complaint, "contacted_customer", note="x")
    assert assert_problem(stale, 412)["current_version"] == 1
    assert snapshot() == before
    assert get(client, office, complaint)["status"] == "open"
    current = act(client, {**office, "If-Match": '"1"'}, complaint, "contacted_customer", note="called")
    assert current.status_code == 200, current.text
    assert current.headers["etag"] == f'"{current.json()["version"]}"'
    assert current.json()["version"] > 1


# Resolution and verdict -------------------------------------------------------------------------------------------


def test_resolving_needs_a_resolution_a_current_version_and_an_open_complaint(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: Maker, snapshot: Any
) -> None:
    office = auth("disp_north")
    filed = file_complaint(client, office, job_id=str(world.jobs["north_assigned"]))
    complaint = filed["id"]
    before = snapshot()
    blank = client.post(f"/api/complaints/{complaint}/resolution", json={"resolution": "   "}, headers=office)
    assert assert_problem(blank, 422)["errors"][0]["field"] == "resolution"
    empty = client.post(f"/api/complaints/{complaint}/resolution", json={"resolution": ""}, headers=office)
    assert empty.status_code in (400, 422), empty.text
    assert empty.headers["content-type"].startswith(PROBLEM_JSON)
    stale = resolve(
        client, office, complaint, "Refund", more_headers={"If-Match": f'"{filed["version"] + 5}"'}
    )
    assert assert_problem(stale, 412)["current_version"] == filed["version"]
    assert snapshot() == before

    current = client.get(f"/api/complaints/{complaint}", headers=office).headers["etag"]
    resolved = resolve(
        client,
        office,
        complaint,
        "  Apologies and a refund of the call-out  ",
        more_headers={"If-Match": current},
    )
    assert resolved.status_code == 200, resolved.text
    body = resolved.json()
    assert body["status"] == "resolved"
    assert body["resolution"] == "Apologies and a refund of the call-out"
    assert body["responded_at"] == body["resolved_at"], "a resolution with no response before is the response"
    assert body["owner_user_id"] == user_id(sessionmaker, world, "disp_north")
    assert body["customer_satisfied"] is None
    resolved_told = fetch(
        sessionmaker, sa.select(m.OutboxMessage.channel).where(m.OutboxMessage.kind == "complaint_resolved")
    )
    assert sorted(resolved_told) == ["email", "sms"], "the customer is asked whether it settles it"
    before = snapshot()
    assert_problem(resolve(client, office, complaint, "again"), 409)
    assert snapshot() == before

    # The customer is satisfied: the complaint closes, and nothing changes it any more.
    token = complaint_token(client, sessionmaker, complaint)
    assert verdict(client, token, satisfied=True).status_code == 303
    closed = get(client, office, complaint)
    assert closed["status"] == "closed"
    assert closed["customer_satisfied"] is True
    assert closed["actions"][-1]["kind"] == "customer_satisfied"
    assert closed["actions"][-1]["by_customer"] is True
    before = snapshot()
    assert_problem(resolve(client, office, complaint, "once more"), 409)
    assert_problem(act(client, office, complaint, "contacted_customer", note="x"), 409)
    assert verdict(client, token, satisfied=False).status_code == 409
    assert snapshot() == before
    assert get(client, office, complaint) == closed


def test_an_unhappy_verdict_reopens_with_rework_for_a_technical_complaint_but_not_for_billing(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: Maker
) -> None:
    office = auth("disp_north")
    job = world.jobs["north_assigned"]
    filed = {
        category: file_complaint(client, office, category=category, job_id=str(job))
        for category in ("technical", "billing")
    }
    for c in filed.values():
        assert act(client, office, c["id"], "contacted_customer", note="called").status_code == 200
        assert resolve(client, office, c["id"], "Explained and fixed").status_code == 200
    jobs_before = len(fetch(sessionmaker, sa.select(m.Job.id)))

    unhappy_at = dt.datetime.now(dt.UTC)
    for c in filed.values():
        answered = verdict(client, complaint_token(client, sessionmaker, c["id"]), satisfied=False)
        assert answered.status_code == 303, answered.text

    technical, billing = (get(client, office, filed[k]["id"]) for k in ("technical", "billing"))
    for reopened in (technical, billing):
        assert reopened["status"] == "reopened"
        assert reopened["reopen_count"] == 1
        assert reopened["customer_satisfied"] is False
        assert reopened["responded_at"] is None
        assert reopened["resolved_at"] is None
        assert at(reopened["respond_by"]) >= unhappy_at, "fresh deadlines from the moment it reopened"
        assert [a["kind"] for a in reopened["actions"]][-2:] == ["customer_unsatisfied", "reopened"]
    assert billing["rework_job_id"] is None
    (rework,) = rework_jobs(sessionmaker, job)
    assert technical["rework_job_id"] == str(rework.id)
    assert rework.status is JobStatus.NEW
    assert rework.service_type_id == world.service_types["leak-repair"]
    assert rework.site_id == world.sites["north"]
    assert len(fetch(sessionmaker, sa.select(m.Job.id))) == jobs_before + 1


# Overdue ---------------------------------------------------------------------------------------------------------------


def test_overdue_lists_exactly_the_open_complaints_past_a_deadline_they_have_not_met(
    client: TestClient[Any], auth: Any, world: World, sessionmaker: Maker
) -> None:
    office = auth("disp_north")
    names = [
        "fresh",
        "unanswered",
        "answered_in_time",
        "unresolved",
        "closed_late",
        "resolved_late",
        "reopened_late",
    ]
    ids = {
        name: file_complaint(client, office, customer_id=str(world.customers["north"]), description=name)[
            "id"
        ]
        for name in names
    }
    for name in ("answered_in_time", "unresolved"):
        assert act(client, office, ids[name], "contacted_customer", note="called").status_code == 200
    assert resolve(client, office, ids["resolved_late"], "Refunded").status_code == 200
    now = dt.datetime.now(dt.UTC)
    past, future = now - dt.timedelta(hours=1), now + dt.timedelta(days=1)
    times: dict[str, dict[str, Any]] = {
        "unanswered": {"respond_by": past},
        "answered_in_time": {"respond_by": past},
        "unresolved": {"respond_by": past - dt.timedelta(hours=1), "resolve_by": past},
        "closed_late": {"respond_by": past, "resolve_by": past, "status": ComplaintStatus.CLOSED},
        "resolved_late": {"respond_by": past, "resolve_by": past},
        "reopened_late": {"respond_by": past, "resolve_by": future, "status": ComplaintStatus.REOPENED},
    }

    async def set_times(s: AsyncSession) -> None:
        for name, values in times.items():
            complaint = await s.get_one(m.Complaint, uuid.UUID(ids[name]))
            for key, value in values.items():
                setattr(complaint, key, value)

    in_db(sessionmaker, set_times)
    overdue = client.get("/api/complaints", params={"overdue": "true"}, headers=office).json()
    late = {"unanswered", "unresolved", "reopened_late"}
    assert {c["description"] for c in overdue["items"]} == late
    assert overdue["total"] == len(late)
    assert all(c["overdue"] for c in overdue["items"])
    on_time = client.get("/api/complaints", params={"overdue": "false"}, headers=office).json()
    assert {c["description"] for c in on_time["items"]} == set(names) - late
    assert not any(c["overdue"] for c in on_time["items"])
    assert get(client, office, ids["unanswered"])["overdue"] is True
    assert get(client, office, ids["closed_late"])["overdue"] is False
    assert (
        client.get("/api/complaints", params={"overdue": "true"}, headers=auth("disp_south")).json()["total"]
        == 0
    )


# Scoping ---------------------------------------------------------------------------------------------------------------


def test_another_territorys_dispatcher_sees_none_of_its_complaints(
    client: TestClient[Any], auth: Any, world: World, snapshot: Any
) -> None:
    north = auth("disp_north")
    about_job = file_complaint(client, north, job_id=str(world.jobs["north_assigned"]))["id"]
    about_customer = file_complaint(client, north, customer_id=str(world.customers["north"]))["id"]
    south = auth("disp_south")
    before = snapshot()
    assert client.get("/api/complaints", headers=south).json()["total"] == 0
    assert (
        client.get(
            "/api/complaints", params={"job_id": str(world.jobs["north_assigned"])}, headers=south
        ).json()["total"]
        == 0
    )
    for complaint in (about_job, about_customer):
        assert_problem(client.get(f"/api/complaints/{complaint}", headers=south), 404)
        assert_problem(act(client, south, complaint, "contacted_customer", note="mine now"), 404)
        assert_problem(resolve(client, south, complaint, "closed by the south"), 404)
        assert_problem(client.get(f"/api/complaints/{complaint}", headers=auth("tech_n1")), 403)
    assert_problem(client.get("/api/complaints", headers=auth("tech_n1")), 403)
    assert snapshot() == before
    assert client.get("/api/complaints", headers=auth("admin")).json()["total"] == 2


# Properties ------------------------------------------------------------------------------------------------------------

# Weighted so that most sequences reach a resolution and a verdict, and some reopen more than once.
OPS = st.sampled_from(
    [
        *("resolve", "unhappy", "happy") * 2,
        *("resolve", "contacted_customer", "note", "refund_requested"),
    ]
)


@settings(
    max_examples=20,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    category=st.sampled_from(["service", "technical", "billing"]),
    about_job=st.sampled_from([True, True, False]),
    ops=st.lists(OPS, min_size=2, max_size=10),
)
def test_complaint_invariants_hold_over_any_sequence_of_actions_resolutions_and_verdicts(
    client: TestClient[Any],
    auth: Any,
    world: World,
    sessionmaker: Maker,
    category: str,
    about_job: bool,
    ops: list[str],
) -> None:
    office = auth("disp_north")
    # A job of its own per example, so that the rework jobs counted are this example's.
    job_id = uuid.uuid4()

    async def new_job(s: AsyncSession) -> None:
        template = await s.get_one(m.Job, world.jobs["north_open"])
        s.add(
            m.Job(
                id=job_id,
                customer_id=template.customer_id,
                site_id=template.site_id,
                territory_id=template.territory_id,
                service_type_id=template.service_type_id,
                priority=template.priority,
                description="property job",
                duration_s=3600,
                respond_by=template.respond_by,
                resolve_by=template.resolve_by,
                checklist=[],
                parts=[],
                tools=[],
                suggested_service_type_codes=[],
            )
        )

    in_db(sessionmaker, new_job)
    ref = {"job_id": str(job_id)} if about_job else {"customer_id": str(world.customers["north"])}
    complaint = file_complaint(client, office, category=category, **ref)
    cid = complaint["id"]
    token = complaint_token(client, sessionmaker, cid) if about_job else None
    if not about_job:
        assert (
            fetch(
                sessionmaker,
                sa.select(m.CustomerLink.id).where(m.CustomerLink.complaint_id == uuid.UUID(cid)),
            )
            == []
        )

    status, unhappy, closed_view, seen = "open", 0, None, complaint
    rework_category = about_job and category in ("service", "technical")
    for op in ops:
        if op in ("happy", "unhappy"):
            if token is None:
                continue  # no link, no verdict: the customer answers only through their link
            answered = verdict(client, token, satisfied=op == "happy")
            if status == "resolved":
                assert answered.status_code == 303, (op, answered.text)
                status = "closed" if op == "happy" else "reopened"
                unhappy += op == "unhappy"
            else:
                assert answered.status_code == 409, (op, status)
        elif op == "resolve":
            response = resolve(client, office, cid, "Resolved by the office")
            if status in ("open", "in_progress", "reopened"):
                assert response.status_code == 200, response.text
                status = "resolved"
            else:
                assert_problem(response, 409)
        else:
            response = act(client, office, cid, op, note="done")
            if status == "closed":
                assert_problem(response, 409)
            else:
                assert response.status_code == 200, response.text
                if op != "note" and status in ("open", "reopened"):
                    status = "in_progress"

        seen = get(client, office, cid)
        assert seen["status"] in STATUSES
        assert seen["status"] == status, (ops, seen["status"])
        assert seen["reopen_count"] == unhappy
        if seen["responded_at"] is not None and seen["resolved_at"] is not None:
            assert at(seen["responded_at"]) <= at(seen["resolved_at"])
        if status == "resolved":
            assert seen["resolved_at"] is not None
            assert seen["responded_at"] is not None
        if closed_view is not None:
            assert seen == closed_view, "a closed complaint changed"
        if status == "closed":
            closed_view = seen
        assert (seen["rework_job_id"] is not None) == (rework_category and unhappy > 0)
    # One rework job per unhappy verdict on work done wrong, and none otherwise; the complaint names the last.
    reworked = rework_jobs(sessionmaker, job_id)
    assert len(reworked) == (unhappy if rework_category else 0)
    if reworked:
        assert seen["rework_job_id"] in {str(j.id) for j in reworked}
        assert {j.status for j in reworked} == {JobStatus.NEW}
    event(f"ended {status}")
    event(f"reopened {unhappy} times")
