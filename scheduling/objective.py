"""The objective of a plan, broken down by goal, computed from the plan and the problem alone.

It is the sum OR-Tools minimises (the tests hold the two equal), so a dispatcher can see what each goal costs.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from scheduling.penalties import drop_penalty, end_of_plan
from scheduling.plan import Route
from scheduling.preferences import preference_cost
from scheduling.problem import Problem
from scheduling.travel import TravelMatrix


def objective_breakdown(
    problem: Problem, matrix: TravelMatrix, routes: Iterable[Route], left_out: set[str]
) -> dict[str, int]:
    w = problem.weights
    jobs = {j.id: j for j in problem.jobs}
    shifts = {s.id: (t, s) for t, s in problem.shifts}
    routes = [r for r in routes if r.stops]
    share = -(-len(problem.jobs) // len(shifts)) if shifts else 0
    parts = dict.fromkeys(
        (
            "travel_time",
            "distance",
            "span",
            "overtime",
            "lateness",
            "preference",
            "fairness",
            "vehicles",
            "unassigned",
        ),
        0,
    )
    for route in routes:
        technician, shift = shifts[route.shift]
        places = [shift.start_location, *(jobs[s.job].location for s in route.stops), shift.end_location]
        for a, b in itertools.pairwise(places):
            parts["travel_time"] += w.travel_time * matrix.time_of(a, b)
            parts["distance"] += w.distance * matrix.distance_of(a, b)
        parts["span"] += w.span * (route.end - route.start)
        if shift.overtime:
            parts["overtime"] += w.overtime * max(0, route.end - shift.end)
        for stop in route.stops:
            job = jobs[stop.job]
            if job.preferred_window is not None:
                parts["lateness"] += w.lateness * max(0, stop.start - job.preferred_window.end)
            parts["preference"] += preference_cost(problem, technician, job)
        parts["fairness"] += w.fairness * max(0, len(route.stops) - share)
        parts["vehicles"] += w.vehicle
    end_of_horizon = end_of_plan(problem)
    parts["unassigned"] = sum(drop_penalty(jobs[job_id], end_of_horizon) for job_id in left_out)
    parts["total"] = sum(parts.values())
    return parts
