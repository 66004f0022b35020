"""The job status state machine: which moves exist, and who may make them."""

from __future__ import annotations

import itertools

from domain.enums import JobStatus as S
from domain.enums import Role

TRANSITIONS: dict[S, frozenset[S]] = {
    S.NEW: frozenset({S.SCHEDULED, S.ON_HOLD, S.CANCELLED}),
    S.SCHEDULED: frozenset({S.DISPATCHED, S.NEW, S.ON_HOLD, S.CANCELLED}),
    S.DISPATCHED: frozenset({S.EN_ROUTE, S.SCHEDULED, S.ON_HOLD, S.CANCELLED}),
    S.EN_ROUTE: frozenset({S.ON_SITE, S.DISPATCHED, S.ON_HOLD, S.CANCELLED}),
    S.ON_SITE: frozenset({S.IN_PROGRESS, S.ON_HOLD}),
    S.IN_PROGRESS: frozenset({S.COMPLETED, S.ON_HOLD}),
    S.COMPLETED: frozenset({S.CLOSED, S.REOPENED}),
    S.CLOSED: frozenset({S.REOPENED}),
    S.ON_HOLD: frozenset({S.NEW, S.SCHEDULED, S.DISPATCHED, S.CANCELLED}),
    S.REOPENED: frozenset({S.SCHEDULED, S.ON_HOLD, S.CANCELLED}),
    S.CANCELLED: frozenset(),
}

# What a technician may do to a job of theirs from the field; everything else is the office's.
TECHNICIAN_MOVES: frozenset[tuple[S, S]] = frozenset(
    {
        (S.DISPATCHED, S.EN_ROUTE),
        (S.EN_ROUTE, S.ON_SITE),
        (S.ON_SITE, S.IN_PROGRESS),
        (S.IN_PROGRESS, S.COMPLETED),
        (S.EN_ROUTE, S.ON_HOLD),
        (S.ON_SITE, S.ON_HOLD),
        (S.IN_PROGRESS, S.ON_HOLD),
    }
)

# A completion made in the field while the office cancelled the job: the work was done, so it stands (and a
# person is told). Never a move anyone can request; only offline sync records it.
FIELD_COMPLETION: tuple[S, S] = (S.CANCELLED, S.COMPLETED)

# Statuses in which the job needs someone assigned.
NEEDS_ASSIGNMENT: frozenset[S] = frozenset({S.SCHEDULED, S.DISPATCHED, S.EN_ROUTE, S.ON_SITE, S.IN_PROGRESS})

OPEN: frozenset[S] = frozenset(set(S) - {S.COMPLETED, S.CLOSED, S.CANCELLED})


def is_legal(current: S, requested: S) -> bool:
    return requested in TRANSITIONS[current]


def may_move(role: Role, current: S, requested: S) -> bool:
    """Whether `role` may make this (legal) move; cancelling is the office's alone."""
    if role is Role.TECHNICIAN:
        return (current, requested) in TECHNICIAN_MOVES
    return True


def is_legal_history(statuses: list[S]) -> bool:
    """Whether a job's recorded statuses, oldest first, form a path the rules allow."""
    return all(
        is_legal(current, following) or (current, following) == FIELD_COMPLETION
        for current, following in itertools.pairwise(statuses)
    )
