"""`solve`: the OR-Tools routing model of the problem, every job optional with a priority-weighted penalty.

One vehicle per shift. Hard rules are constraints of the model (windows, shifts, breaks, skills, required and
excluded technicians, capacity, maximum travel, pins); dropping a job costs more than any route could save, so
the solver assigns as much, and as important, work as it can.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from scheduling.explain import explain_unassigned
from scheduling.plan import BreakTaken, Plan, Route, Stop, Totals, Unassigned
from scheduling.problem import Problem
from scheduling.travel import TravelMatrix, build_matrix
from scheduling.validate import allowed, holds_skills, route_distance

# Dropping a job must cost more than any travel it would save; each priority step doubles the stake.
DROP_PENALTY = 10**9
Progress = Callable[[dict[str, float]], None]


@dataclass
class _Model:
    problem: Problem
    matrix: TravelMatrix
    manager: pywrapcp.RoutingIndexManager
    routing: pywrapcp.RoutingModel
    time: pywrapcp.RoutingDimension
    node_location: list[int]
    breaks: list[list[pywrapcp.IntervalVar]]


def solve(
    problem: Problem,
    *,
    time_limit: float,
    seed: int = 0,
    hint: Plan | None = None,
    on_progress: Progress | None = None,
) -> Plan:
    """The best plan found within `time_limit` seconds. Never raises for a hard problem: jobs that cannot be
    served are returned as unassigned with their reasons."""
    started = time.perf_counter()
    matrix = build_matrix(problem)
    if not problem.jobs or not problem.shifts:
        return _plan_without_routes(problem, matrix, started)
    model = _build(problem, matrix)
    first_ms: list[int] = []

    def on_solution() -> None:
        elapsed = time.perf_counter() - started
        if not first_ms:
            first_ms.append(int(elapsed * 1000))
        if on_progress is not None:
            on_progress({"elapsed": elapsed, "objective": float(model.routing.CostVar().Max())})

    model.routing.AddAtSolutionCallback(on_solution)
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    remaining = max(0.01, time_limit - (time.perf_counter() - started))
    params.time_limit.FromMilliseconds(int(remaining * 1000))
    solution = None
    if hint is not None:
        initial = model.routing.ReadAssignmentFromRoutes(_hint_routes(model, hint), True)
        if initial is not None:
            solution = model.routing.SolveFromAssignmentWithParameters(initial, params)
    if solution is None:
        solution = model.routing.SolveWithParameters(params)
    solve_ms = int((time.perf_counter() - started) * 1000)
    if solution is None:
        plan = _plan_without_routes(problem, matrix, started)
        return Plan(
            routes=plan.routes,
            unassigned=plan.unassigned,
            totals=plan.totals,
            status="no_solution",
            solve_ms=solve_ms,
        )
    return _extract(model, solution, first_ms[0] if first_ms else None, solve_ms)


def _build(problem: Problem, matrix: TravelMatrix) -> _Model:
    shifts = problem.shifts
    jobs = problem.jobs
    node_location = [j.location for j in jobs]
    starts, ends = [], []
    for _, shift in shifts:
        starts.append(len(node_location))
        node_location.append(shift.start_location)
        ends.append(len(node_location))
        node_location.append(shift.end_location)
    n = len(node_location)
    service = [j.duration for j in jobs] + [0] * (n - len(jobs))
    manager = pywrapcp.RoutingIndexManager(n, len(shifts), starts, ends)
    routing = pywrapcp.RoutingModel(manager)

    w = problem.weights
    cost = [
        [
            w.travel_time * matrix.time[node_location[a]][node_location[b]]
            + w.distance * matrix.distance[node_location[a]][node_location[b]]
            for b in range(n)
        ]
        for a in range(n)
    ]
    cost_cb = routing.RegisterTransitMatrix(cost)
    routing.SetArcCostEvaluatorOfAllVehicles(cost_cb)
    if w.vehicle:
        routing.SetFixedCostOfAllVehicles(w.vehicle)

    time_matrix = [
        [matrix.time[node_location[a]][node_location[b]] + service[a] for b in range(n)] for a in range(n)
    ]
    time_cb = routing.RegisterTransitMatrix(time_matrix)
    horizon = max(s.end for _, s in shifts)
    for j in jobs:
        for win in j.windows:
            horizon = max(horizon, win.end)
    routing.AddDimension(time_cb, horizon, horizon, False, "time")
    time_dim = routing.GetDimensionOrDie("time")
    if w.waiting:
        time_dim.SetSpanCostCoefficientForAllVehicles(w.waiting)

    for v, (_, shift) in enumerate(shifts):
        time_dim.CumulVar(routing.Start(v)).SetRange(shift.start, shift.end)
        time_dim.CumulVar(routing.End(v)).SetRange(shift.start, shift.end)
        routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(routing.Start(v)))
        routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(routing.End(v)))

    solver = routing.solver()
    breaks: list[list[pywrapcp.IntervalVar]] = []
    for v, (_, shift) in enumerate(shifts):
        intervals = [
            solver.FixedDurationIntervalVar(
                b.earliest_start, b.latest_end - b.duration, b.duration, False, f"break-{v}-{k}"
            )
            for k, b in enumerate(shift.breaks)
        ]
        if intervals:
            time_dim.SetBreakIntervalsOfVehicle(intervals, v, service)
        breaks.append(intervals)

    if any(s.capacity is not None for _, s in shifts):
        demand = [j.demand for j in jobs] + [0] * (n - len(jobs))
        demand_cb = routing.RegisterUnaryTransitVector(demand)
        capacities = [s.capacity if s.capacity is not None else sum(demand) for _, s in shifts]
        routing.AddDimensionWithVehicleCapacity(demand_cb, 0, capacities, True, "load")
    if any(s.max_travel is not None for _, s in shifts):
        travel_only = routing.RegisterTransitMatrix(
            [[matrix.time[node_location[a]][node_location[b]] for b in range(n)] for a in range(n)]
        )
        limits = [s.max_travel if s.max_travel is not None else horizon * 2 for _, s in shifts]
        routing.AddDimensionWithVehicleCapacity(travel_only, 0, limits, True, "travel")

    shift_index = {s.id: v for v, (_, s) in enumerate(shifts)}
    pinned: dict[int, list[tuple[int, int]]] = {}
    for node, job in enumerate(jobs):
        index = manager.NodeToIndex(node)
        cumul = time_dim.CumulVar(index)
        if job.windows:
            cumul.SetRange(job.windows[0].start, job.windows[-1].end)
            for before, after in itertools.pairwise(job.windows):
                cumul.RemoveInterval(before.end + 1, after.start - 1)
        able = [v for v, (t, _) in enumerate(shifts) if holds_skills(t, job) and allowed(t, job)]
        if job.pin is not None:
            able = [shift_index[job.pin.shift]]
            pinned.setdefault(able[0], []).append((job.pin.sequence, index))
        if len(able) < len(shifts):
            routing.VehicleVar(index).SetValues([-1, *able])
        routing.AddDisjunction([index], DROP_PENALTY * (2**job.priority) * (100 if job.pin else 1))
    for visits in pinned.values():
        visits.sort()
        for (_, a), (_, b) in itertools.pairwise(visits):
            solver.Add(time_dim.CumulVar(a) < time_dim.CumulVar(b))
    return _Model(problem, matrix, manager, routing, time_dim, node_location, breaks)


def _hint_routes(model: _Model, hint: Plan) -> list[list[int]]:
    index_of_job = {j.id: i for i, j in enumerate(model.problem.jobs)}
    by_shift = {r.shift: r for r in hint.routes}
    routes = []
    for _, shift in model.problem.shifts:
        route = by_shift.get(shift.id)
        routes.append([index_of_job[s.job] for s in route.stops if s.job in index_of_job] if route else [])
    return routes


def _extract(model: _Model, solution: pywrapcp.Assignment, first_ms: int | None, solve_ms: int) -> Plan:
    problem, matrix, routing, manager = model.problem, model.matrix, model.routing, model.manager
    jobs = {j.id: j for j in problem.jobs}
    taken_breaks = {}
    intervals = solution.IntervalVarContainer()
    for i in range(intervals.Size()):
        element = intervals.Element(i)
        if element.PerformedValue():
            taken_breaks[element.Var().Name()] = (
                element.StartValue(),
                element.StartValue() + element.DurationValue(),
            )
    routes: list[Route] = []
    served: set[str] = set()
    for v, (technician, shift) in enumerate(problem.shifts):
        index = routing.Start(v)
        stops: list[Stop] = []
        here = shift.start_location
        free_at = solution.Min(model.time.CumulVar(index))
        route_start = free_at
        travel_total = 0
        index = solution.Value(routing.NextVar(index))
        while not routing.IsEnd(index):
            node = manager.IndexToNode(index)
            job = problem.jobs[node]
            start = solution.Min(model.time.CumulVar(index))
            leg = matrix.time[here][job.location]
            arrival = free_at + leg
            stops.append(
                Stop(
                    job=job.id,
                    arrival=arrival,
                    start=start,
                    end=start + job.duration,
                    travel=leg,
                    waiting=max(0, start - arrival),
                )
            )
            served.add(job.id)
            travel_total += leg
            here, free_at = job.location, start + job.duration
            index = solution.Value(routing.NextVar(index))
        travel_total += matrix.time[here][shift.end_location]
        breaks = tuple(
            BreakTaken(start=s, end=e)
            for k in range(len(shift.breaks))
            if (s_e := taken_breaks.get(f"break-{v}-{k}")) is not None
            for s, e in [s_e]
        )
        if not stops:
            continue
        route = Route(
            technician=technician.id,
            shift=shift.id,
            stops=tuple(stops),
            breaks=breaks,
            start=route_start,
            end=solution.Min(model.time.CumulVar(routing.End(v))),
            distance=0.0,
            travel_time=travel_total,
        )
        distance = route_distance(route, shift, jobs, matrix)
        routes.append(
            Route(
                technician=route.technician,
                shift=route.shift,
                stops=route.stops,
                breaks=breaks,
                start=route.start,
                end=route.end,
                distance=distance,
                travel_time=travel_total,
            )
        )
    left_out = [j for j in problem.jobs if j.id not in served]
    unassigned = tuple(Unassigned(job=j.id, reasons=explain_unassigned(problem, matrix, j)) for j in left_out)
    totals = Totals(
        distance=sum(r.distance for r in routes),
        travel_time=sum(r.travel_time for r in routes),
        waiting_time=sum(s.waiting for r in routes for s in r.stops),
        vehicles_used=len(routes),
        assigned=len(served),
        unassigned=len(left_out),
    )
    penalty = sum(DROP_PENALTY * (2**j.priority) for j in left_out)
    objective = {
        "total": int(solution.ObjectiveValue()),
        "unassigned_penalty": penalty,
        "routing": int(solution.ObjectiveValue()) - penalty,
    }
    return Plan(
        routes=tuple(routes),
        unassigned=unassigned,
        totals=totals,
        objective=objective,
        first_solution_ms=first_ms,
        solve_ms=solve_ms,
    )


def _plan_without_routes(problem: Problem, matrix: TravelMatrix, started: float) -> Plan:
    unassigned = tuple(
        Unassigned(job=j.id, reasons=explain_unassigned(problem, matrix, j)) for j in problem.jobs
    )
    return Plan(
        routes=(),
        unassigned=unassigned,
        totals=Totals(
            distance=0.0,
            travel_time=0,
            waiting_time=0,
            vehicles_used=0,
            assigned=0,
            unassigned=len(unassigned),
        ),
        solve_ms=int((time.perf_counter() - started) * 1000),
    )
