"""The job status state machine, exercised as a user would: random sequences of requested moves from `new`.

The pure rules (domain.job_status) are driven by hypothesis with every role; then the same random walks are
replayed through the real service (domain.services.jobs.transition) against the database, whose status log must
show exactly the moves the rules allow and nothing else.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import deque

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain import job_status
from domain import models as m
from domain.enums import CompletionOutcome, Priority, Role
from domain.enums import JobStatus as S
from domain.errors import IllegalTransition, InvalidInput, PermissionDenied
from domain.keys import ServerKeys
from domain.principal import Principal
from domain.services import completion, jobs
from tests.conftest import TODAY, World

# What a technician does in the field, written out independently of the module under test.
FIELD_MOVES = {
    (S.DISPATCHED, S.EN_ROUTE),
    (S.EN_ROUTE, S.ON_SITE),
    (S.ON_SITE, S.IN_PROGRESS),
    (S.IN_PROGRESS, S.COMPLETED),
    (S.EN_ROUTE, S.ON_HOLD),
    (S.ON_SITE, S.ON_HOLD),
    (S.IN_PROGRESS, S.ON_HOLD),
}
EDGES = {(a, b) for a, targets in job_status.TRANSITIONS.items() for b in targets}


# Steers generation along the life of a job so that walks go deep; it is not an assertion.
_ONWARD = {
    S.NEW: S.SCHEDULED,
    S.SCHEDULED: S.DISPATCHED,
    S.DISPATCHED: S.EN_ROUTE,
    S.EN_ROUTE: S.ON_SITE,
    S.ON_SITE: S.IN_PROGRESS,
    S.IN_PROGRESS: S.COMPLETED,
    S.COMPLETED: S.CLOSED,
    S.CLOSED: S.REOPENED,
    S.REOPENED: S.SCHEDULED,
    S.ON_HOLD: S.DISPATCHED,
}


@st.composite
def _requests(draw: st.DrawFn, max_size: int) -> list[tuple[Role, S]]:
    """Requested moves by random roles: often the job's next step, sometimes any next status, sometimes anything."""
    requests: list[tuple[Role, S]] = []
    current = S.NEW
    for _ in range(draw(st.integers(0, max_size))):
        role = draw(st.sampled_from(list(Role)))
        kind = draw(st.integers(0, 4))
        if kind >= 2 and current in _ONWARD:
            requested = _ONWARD[current]
        elif kind == 1 and job_status.TRANSITIONS[current]:
            requested = draw(st.sampled_from(sorted(job_status.TRANSITIONS[current])))
        else:
            requested = draw(st.sampled_from(list(S)))
        requests.append((role, requested))
        if (current, requested) in EDGES and (
            role is not Role.TECHNICIAN or (current, requested) in FIELD_MOVES
        ):
            current = requested
    return requests


moves = _requests(40)


def _walk(requests: list[tuple[Role, S]]) -> tuple[S, list[tuple[Role, S, S]]]:
    """Apply each requested move the rules accept; return the final status and the accepted moves."""
    current = S.NEW
    accepted: list[tuple[Role, S, S]] = []
    for role, requested in requests:
        # Completion is the technician's own command (CompleteJob), never a plain move.
        if requested is S.COMPLETED and role is not Role.TECHNICIAN:
            continue
        if job_status.is_legal(current, requested) and job_status.may_move(role, current, requested):
            accepted.append((role, current, requested))
            current = requested
    return current, accepted


def test_transition_table_covers_every_status() -> None:
    assert set(job_status.TRANSITIONS) == set(S)
    for current, targets in job_status.TRANSITIONS.items():
        assert current not in targets, f"{current} must not move to itself"


@given(moves)
def test_only_moves_in_the_transition_table_are_ever_followed(requests: list[tuple[Role, S]]) -> None:
    final, accepted = _walk(requests)
    previous = S.NEW
    for _, source, target in accepted:
        assert source == previous
        assert (source, target) in EDGES
        previous = target
    assert final == previous


@given(moves)
def test_cancelled_is_terminal(requests: list[tuple[Role, S]]) -> None:
    _, accepted = _walk(requests)
    sources = [source for _, source, _ in accepted]
    assert S.CANCELLED not in sources
    if accepted and accepted[-1][2] is S.CANCELLED:
        # Whatever is asked afterwards, by anyone, the job stays cancelled.
        assert _walk([*requests, *[(r, s) for r in Role for s in S]])[0] is S.CANCELLED


@given(moves)
def test_technicians_only_make_their_field_moves(requests: list[tuple[Role, S]]) -> None:
    _, accepted = _walk(requests)
    for role, source, target in accepted:
        if role is Role.TECHNICIAN:
            assert (source, target) in FIELD_MOVES
            assert target is not S.CANCELLED


@given(st.sampled_from(sorted(EDGES)))
def test_the_office_may_make_every_legal_move_and_technicians_only_field_ones(edge: tuple[S, S]) -> None:
    source, target = edge
    assert job_status.may_move(Role.ADMIN, source, target)
    assert job_status.may_move(Role.DISPATCHER, source, target)
    assert job_status.may_move(Role.TECHNICIAN, source, target) == (edge in FIELD_MOVES)


def test_every_status_is_reachable_from_new() -> None:
    seen, queue = {S.NEW}, deque([S.NEW])
    while queue:
        for target in job_status.TRANSITIONS[queue.popleft()]:
            if target not in seen:
                seen.add(target)
                queue.append(target)
    assert seen == set(S)


def test_a_job_can_go_from_new_to_closed_with_technicians_doing_the_field_work() -> None:
    path = [
        (Role.DISPATCHER, S.SCHEDULED),
        (Role.DISPATCHER, S.DISPATCHED),
        (Role.TECHNICIAN, S.EN_ROUTE),
        (Role.TECHNICIAN, S.ON_SITE),
        (Role.TECHNICIAN, S.IN_PROGRESS),
        (Role.TECHNICIAN, S.COMPLETED),
        (Role.DISPATCHER, S.CLOSED),
    ]
    final, accepted = _walk(path)
    assert final is S.CLOSED
    assert len(accepted) == len(path)


# The same walks through the service and the database ----------------------------------------------------------


async def _principals(sessionmaker: async_sessionmaker[AsyncSession], world: World) -> dict[Role, Principal]:
    async with sessionmaker() as s:
        users = {u.email: u for u in await s.scalars(sa.select(m.User))}
    admin = users[world.users["admin"]]
    dispatcher = users[world.users["disp_north"]]
    technician = users[world.users["tech_n1"]]
    return {
        Role.ADMIN: Principal(admin.id, Role.ADMIN),
        Role.DISPATCHER: Principal(
            dispatcher.id, Role.DISPATCHER, territory_ids=frozenset({world.territories["north"]})
        ),
        Role.TECHNICIAN: Principal(
            technician.id, Role.TECHNICIAN, technician_id=world.technicians["tech_n1"]
        ),
    }


async def _fresh_job(sessionmaker: async_sessionmaker[AsyncSession], world: World) -> uuid.UUID:
    """A triaged north job, assigned to tech_n1 but still `new`, so that every rule but the table's is met."""
    async with sessionmaker() as s:
        s.info["actor"] = "test:job-status"
        job = m.Job(
            id=uuid.uuid4(),
            customer_id=world.customers["north"],
            site_id=world.sites["north"],
            territory_id=world.territories["north"],
            service_type_id=world.service_types["leak-repair"],
            priority=Priority.NORMAL,
            description="walk",
            duration_s=3600,
            respond_by=TODAY + dt.timedelta(hours=30),
            resolve_by=TODAY + dt.timedelta(hours=80),
            checklist=[],
            parts=[],
            tools=[],
            suggested_service_type_codes=[],
        )
        s.add(job)
        await s.flush()
        s.add(m.Assignment(job_id=job.id, technician_id=world.technicians["tech_n1"]))
        await s.commit()
        return job.id


KEYS = ServerKeys(seal=Ed25519PrivateKey.generate(), link_secret=b"k" * 32)


async def _replay(
    sessionmaker: async_sessionmaker[AsyncSession],
    principals: dict[Role, Principal],
    job_id: uuid.UUID,
    requests: list[tuple[Role, S]],
) -> list[tuple[S | None, S, uuid.UUID | None]]:
    for role, requested in requests:
        async with sessionmaker() as s:
            s.info["actor"] = principals[role].actor
            try:
                if requested is S.COMPLETED:
                    if role is not Role.TECHNICIAN:
                        continue
                    await completion.complete_online(
                        s,
                        KEYS,
                        principals[role],
                        job_id,
                        completion.CompletionInput(outcome=CompletionOutcome.FIXED, remote_sign_off=True),
                        now=dt.datetime.now(dt.UTC),
                    )
                else:
                    await jobs.transition(
                        s, principals[role], job_id, requested, reason="requested by the test"
                    )
            except (IllegalTransition, PermissionDenied, InvalidInput):
                await s.rollback()
            else:
                await s.commit()
    async with sessionmaker() as s:
        events = await s.scalars(
            sa.select(m.JobStatusEvent)
            .where(m.JobStatusEvent.job_id == job_id)
            .order_by(m.JobStatusEvent.occurred_at, m.JobStatusEvent.created_at)
        )
        return [(e.from_status, e.to_status, e.actor_user_id) for e in events]


@pytest.fixture
def principals(sessionmaker: async_sessionmaker[AsyncSession], world: World) -> dict[Role, Principal]:
    return asyncio.run(_principals(sessionmaker, world))


@settings(
    max_examples=min(settings.default.max_examples, 25),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(requests=_requests(12))
def test_the_service_follows_the_rules_and_logs_every_move(
    sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
    principals: dict[Role, Principal],
    requests: list[tuple[Role, S]],
) -> None:
    job_id = asyncio.run(_fresh_job(sessionmaker, world))
    logged = asyncio.run(_replay(sessionmaker, principals, job_id, requests))
    final, expected = _walk(requests)
    assert [(source, target) for source, target, _ in logged] == [(a, b) for _, a, b in expected]
    assert [actor for _, _, actor in logged] == [principals[role].user_id for role, _, _ in expected]

    async def status() -> S:
        async with sessionmaker() as s:
            return (await s.get_one(m.Job, job_id)).status

    assert asyncio.run(status()) is final
