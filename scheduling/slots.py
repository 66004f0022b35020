"""Appointment slots: which of the windows a customer could be offered fit into today's plan, cheapest first.

For each candidate window, every position in every route (and every idle shift) where a technician who may do the
job could take it is priced by the travel it adds; candidates are then tried cheapest first on the timeline,
which checks the whole rest of that route (windows, breaks, the return home), until one holds. The plan's other
visits keep their order; their times may shift within their windows.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from scheduling.plan import Plan
from scheduling.problem import Job, Problem, Shift, Window
from scheduling.timeline import Cursor, close, open_cursor, visit
from scheduling.travel import TravelMatrix, build_matrix
from scheduling.validate import allowed, holds_skills


class SlotGrade(msgspec.Struct, frozen=True, kw_only=True):
    window: Window
    feasible: bool
    # Travel time the visit adds to the plan; None when the window cannot be served.
    cost: int | None = None
    technician: str | None = None
    shift: str | None = None
    # Where the visit would go in that shift's route, and when it would start.
    position: int | None = None
    start: int | None = None


@dataclass(frozen=True, slots=True)
class _Route:
    shift: Shift
    technician: str
    jobs: list[Job]
    # prefix[p]: the cursor after the first p visits, on the timeline.
    prefix: list[Cursor]


def grade_slots(
    problem: Problem,
    plan: Plan,
    job: Job,
    windows: list[Window],
    *,
    matrix: TravelMatrix | None = None,
) -> list[SlotGrade]:
    """Every candidate window graded: the feasible ones first, cheapest first, then the rest in the given order.

    `job.location` must be one of the problem's locations; the job need not be in the problem (a new request).
    """
    matrix = matrix or build_matrix(problem)
    routes = _routes(problem, plan, job, matrix)
    graded = [_grade(problem, routes, job, window, matrix) for window in windows]
    feasible = sorted((g for g in graded if g.feasible), key=lambda g: (g.cost, g.window.start))
    return feasible + [g for g in graded if not g.feasible]


def _routes(problem: Problem, plan: Plan, job: Job, matrix: TravelMatrix) -> list[_Route]:
    jobs = {j.id: j for j in problem.jobs}
    by_shift = {r.shift: r for r in plan.routes}
    out = []
    for technician, shift in problem.shifts:
        if not (holds_skills(technician, job) and allowed(technician, job)):
            continue
        route = by_shift.get(shift.id)
        sequence = [jobs[s.job] for s in route.stops if s.job != job.id] if route else []
        prefix = [open_cursor(shift)]
        for planned in sequence:
            step = visit(prefix[-1], planned, shift, matrix, not_before=problem.freeze_time or 0)
            if step is None:
                break
            prefix.append(step[0])
        else:
            out.append(_Route(shift=shift, technician=technician.id, jobs=sequence, prefix=prefix))
    return out


def _grade(
    problem: Problem, routes: list[_Route], job: Job, window: Window, matrix: TravelMatrix
) -> SlotGrade:
    candidate = msgspec.structs.replace(job, windows=(window,), pin=None)
    options: list[tuple[int, int, int]] = []
    for r, route in enumerate(routes):
        places = [route.shift.start_location, *(j.location for j in route.jobs), route.shift.end_location]
        for p in range(len(route.jobs) + 1):
            before = route.prefix[p]
            leg_in = matrix.time_of(places[p], job.location)
            if before.free_at + leg_in > window.end:
                break  # every later position is later still
            added = (
                leg_in
                + matrix.time_of(job.location, places[p + 1])
                - matrix.time_of(places[p], places[p + 1])
            )
            options.append((added, r, p))
    options.sort()
    for added, r, p in options:
        start = _insert(problem, routes[r], candidate, p, matrix)
        if start is not None:
            return SlotGrade(
                window=window,
                feasible=True,
                cost=added,
                technician=routes[r].technician,
                shift=routes[r].shift.id,
                position=p,
                start=start,
            )
    return SlotGrade(window=window, feasible=False)


def _insert(problem: Problem, route: _Route, job: Job, position: int, matrix: TravelMatrix) -> int | None:
    """The new visit's start if it fits at `position` with the rest of the route still holding."""
    not_before = problem.freeze_time or 0
    step = visit(route.prefix[position], job, route.shift, matrix, not_before=not_before)
    if step is None:
        return None
    cursor, timed = step
    for planned in route.jobs[position:]:
        following = visit(cursor, planned, route.shift, matrix, not_before=not_before)
        if following is None:
            return None
        cursor = following[0]
    return timed.start if close(cursor, route.shift, matrix) is not None else None
