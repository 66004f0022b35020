"""Putting left-out jobs into routes that have room for them, checked by the timeline.

When a large day is solved area by area, a job its own area could not fit may still fit a route of the next
area. This pass takes the jobs no route holds, most important first, and puts each where it adds the least
travel time, among the routes that pass nearest to it and the positions the timeline accepts. It only ever
adds work: every route it returns is as valid as the one it was given.
"""

from __future__ import annotations

import time

import numpy as np

from scheduling.penalties import drop_penalty, end_of_plan
from scheduling.problem import Problem
from scheduling.timeline import time_route
from scheduling.travel import TravelMatrix

# How many of the routes passing nearest to a job are tried for it: neighbouring areas meet at a border, so a
# job an area could not fit is most likely to fit one of the few routes just across it.
NEAREST_ROUTES = 8


def insert_left_out(
    problem: Problem,
    matrix: TravelMatrix,
    routes: list[list[int]],
    able: list[set[int]],
    *,
    deadline: float,
) -> list[list[int]]:
    """`routes` (job indices per shift, in `problem.shifts` order) with as many left-out jobs added as fit
    before `deadline` (a `time.perf_counter()` value)."""
    jobs, shifts = problem.jobs, problem.shifts
    routes = [list(route) for route in routes]
    routed = {j for route in routes for j in route}
    end = end_of_plan(problem)
    left_out = sorted(
        (j for j in range(len(jobs)) if j not in routed and able[j]),
        key=lambda j: (-drop_penalty(jobs[j], end), j),
    )
    not_before = problem.freeze_time or 0
    for j in left_out:
        if time.perf_counter() >= deadline:
            break
        job = jobs[j]
        best: tuple[int, int, int] | None = None  # (added travel, shift, position)
        for v in _nearest_routes(problem, matrix, routes, able[j], job.location):
            route, shift = routes[v], shifts[v][1]
            stops = [shift.start_location, *(jobs[k].location for k in route), shift.end_location]
            for position in range(len(route) + 1):
                before, after = stops[position], stops[position + 1]
                added = (
                    matrix.time_of(before, job.location)
                    + matrix.time_of(job.location, after)
                    - matrix.time_of(before, after)
                )
                if best is not None and added >= best[0]:
                    continue
                trial = [jobs[k] for k in route[:position]] + [job] + [jobs[k] for k in route[position:]]
                if time_route(trial, shift, matrix, not_before=not_before) is not None:
                    best = (added, v, position)
        if best is not None:
            _, v, position = best
            routes[v].insert(position, j)
    return routes


def _nearest_routes(
    problem: Problem, matrix: TravelMatrix, routes: list[list[int]], able: set[int], location: int
) -> list[int]:
    """The shifts among `able` whose route (or, when empty, whose start) passes nearest to `location`."""
    jobs, shifts = problem.jobs, problem.shifts

    def nearness(v: int) -> int:
        places = [shifts[v][1].start_location, *(jobs[k].location for k in routes[v])]
        return int(np.min(matrix.time[np.asarray(places), location]))

    return sorted(able, key=lambda v: (nearness(v), v))[:NEAREST_ROUTES]
