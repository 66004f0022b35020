"""The earliest timing of a sequence of visits on one shift, with its breaks: the one place that knows how a day runs.

A visit starts at the later of its arrival and the opening of its first window still open; a break is taken
before travelling on when it could no longer be taken after the next visit, or during the wait it causes; a
pinned visit with a fixed start starts exactly then. The construction heuristic and slot grading build on it;
the validator does not (it re-derives the rules on its own).
"""

from __future__ import annotations

from dataclasses import dataclass

from scheduling.problem import Break, Job, Shift
from scheduling.travel import TravelMatrix


@dataclass(frozen=True, slots=True)
class Visit:
    arrival: int
    start: int
    end: int
    travel: int


@dataclass(slots=True)
class Cursor:
    """Where a technician is, from when, and what of the shift is still to account for."""

    location: int
    free_at: int
    # The breaks still to take, as (index in the shift, rule), soonest first; and those taken, as (index, start).
    pending: tuple[tuple[int, Break], ...]
    taken: tuple[tuple[int, int], ...] = ()
    load: int = 0
    travel: int = 0


def open_cursor(shift: Shift) -> Cursor:
    return Cursor(
        location=shift.start_location,
        free_at=shift.start,
        pending=tuple(sorted(enumerate(shift.breaks), key=lambda kb: kb[1].earliest_start)),
    )


def earliest_start(job: Job, arrival: int, not_before: int) -> int | None:
    """The first moment at or after `arrival` (and `not_before`) inside a window of the job, or None."""
    if job.pin is not None and job.pin.start is not None:
        # A frozen visit is exempt from the freeze: it is the work already started that the freeze protects.
        return job.pin.start if arrival <= job.pin.start else None
    ready = max(arrival, not_before)
    if not job.windows:
        return ready
    for window in job.windows:
        if ready <= window.end:
            return max(ready, window.start)
    return None


def visit(
    cursor: Cursor, job: Job, shift: Shift, matrix: TravelMatrix, *, not_before: int = 0
) -> tuple[Cursor, Visit] | None:
    """The cursor after doing `job` next, and the visit's times; None when the job cannot come next.

    Does not check that the technician can still get home: see `can_close`.
    """
    if shift.capacity is not None and cursor.load + job.demand > shift.capacity:
        return None
    leg = matrix.time_of(cursor.location, job.location)
    if shift.max_travel is not None and cursor.travel + leg > shift.max_travel:
        return None
    depart = cursor.free_at
    arrival = depart + leg
    # `ready`: when the visit could begin, after travel and any break taken on the way or on site.
    ready = arrival
    pending = list(cursor.pending)
    taken = list(cursor.taken)
    start = earliest_start(job, ready, not_before)
    if start is None:
        return None
    # Take each break that could no longer fit after this visit: on site while waiting when it fits there
    # (the visit starts no later that way), else before setting off.
    while pending and _too_late_after(pending[0][1], start + job.duration):
        k, rest = pending.pop(0)
        rest_start = max(ready, rest.earliest_start)
        if rest_start + rest.duration > rest.latest_end:
            if ready != arrival:
                return None  # a break already taken on site: setting off later is no longer an option
            rest_start = max(depart, rest.earliest_start)
            if rest_start + rest.duration > rest.latest_end:
                return None
            arrival = ready = rest_start + rest.duration + leg
        else:
            ready = rest_start + rest.duration
        taken.append((k, rest_start))
        start = earliest_start(job, ready, not_before)
        if start is None:
            return None
    after = Cursor(
        location=job.location,
        free_at=start + job.duration,
        pending=tuple(pending),
        taken=tuple(taken),
        load=cursor.load + job.demand,
        travel=cursor.travel + leg,
    )
    return after, Visit(arrival=arrival, start=start, end=start + job.duration, travel=leg)


def _too_late_after(rest: Break, free_at: int) -> bool:
    return max(free_at, rest.earliest_start) + rest.duration > rest.latest_end


def close(cursor: Cursor, shift: Shift, matrix: TravelMatrix) -> Cursor | None:
    """The cursor back at the end place after the remaining breaks, or None if that is too late for the shift."""
    clock = cursor.free_at
    taken = list(cursor.taken)
    for k, rest in cursor.pending:
        clock = max(clock, rest.earliest_start)
        if clock + rest.duration > rest.latest_end:
            return None
        taken.append((k, clock))
        clock += rest.duration
    back = matrix.time_of(cursor.location, shift.end_location)
    if shift.max_travel is not None and cursor.travel + back > shift.max_travel:
        return None
    if clock + back > shift.end:
        return None
    return Cursor(
        location=shift.end_location,
        free_at=clock + back,
        pending=(),
        taken=tuple(taken),
        load=cursor.load,
        travel=cursor.travel + back,
    )


def can_close(cursor: Cursor, shift: Shift, matrix: TravelMatrix) -> bool:
    """Whether the technician can take the remaining breaks and be back by the end of the shift."""
    return close(cursor, shift, matrix) is not None


def time_route(
    jobs: list[Job], shift: Shift, matrix: TravelMatrix, *, not_before: int = 0
) -> list[Visit] | None:
    """The visits' times when done in this order on this shift, or None if the order breaks a rule."""
    cursor = open_cursor(shift)
    visits = []
    for job in jobs:
        step = visit(cursor, job, shift, matrix, not_before=not_before)
        if step is None:
            return None
        cursor, timed = step
        visits.append(timed)
    return visits if can_close(cursor, shift, matrix) else None
