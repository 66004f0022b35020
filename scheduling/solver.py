"""`solve`: a first plan of our own at once, then OR-Tools' local search for the rest of the time limit.

The first plan is the previous plan when one is given and still holds, else the construction heuristic's; it is
handed to OR-Tools as its starting assignment, so OR-Tools never runs its own first-solution phase (which ignores
the time limit on large problems). Guided local search improves it until the limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import msgspec
from ortools.constraint_solver import pywrapcp, routing_enums_pb2
from ortools.util import optional_boolean_pb2

from scheduling.areas import area_problems, split_technicians
from scheduling.construct import construct
from scheduling.explain import explain_unassigned
from scheduling.insertion import insert_left_out
from scheduling.model import Model, able_shifts, build_model
from scheduling.objective import objective_breakdown
from scheduling.penalties import DROP_PENALTY
from scheduling.plan import BreakTaken, Plan, Route, Stop, Totals, Unassigned
from scheduling.problem import Problem
from scheduling.timeline import close, open_cursor, visit
from scheduling.travel import TravelMatrix, build_matrix
from scheduling.validate import route_distance

__all__ = ["DROP_PENALTY", "Progress", "solve"]

LNS_OPERATORS = (
    "use_global_cheapest_insertion_path_lns",
    "use_local_cheapest_insertion_path_lns",
    "use_relocate_path_global_cheapest_insertion_insert_unperformed",
    "use_global_cheapest_insertion_visit_types_lns",
    "use_local_cheapest_insertion_visit_types_lns",
)
LARGE = 100_000
# Seconds kept back from the caller's limit for reading the solution out and explaining what was left out.
MARGIN = 0.2
BREAK_SHIFT_LIMIT = 50
# The share of a large day's time kept for moving work across the borders of its areas.
BORDER_SHARE = 0.1
# Up to this many jobs OR-Tools builds its own first solution (0.1 s at 200 jobs, but a minute at 2,000).
OWN_FIRST_SOLUTION_UP_TO = 200
NEIGHBOURS = 40
Progress = Callable[[dict[str, float]], None]


def solve(
    problem: Problem,
    *,
    time_limit: float,
    seed: int = 0,
    hint: Plan | None = None,
    on_progress: Progress | None = None,
) -> Plan:
    """The best plan found within `time_limit` seconds. Never raises for a hard problem: jobs that cannot be
    served are returned as unassigned with their reasons. `on_progress` hears of every better plan found, with
    the seconds elapsed, its objective and the jobs it assigns."""
    started = time.perf_counter()
    deadline = started + time_limit - min(time_limit * 0.05, MARGIN)
    matrix = build_matrix(problem)
    if not problem.jobs or not problem.shifts:
        return _plan_without_routes(problem, matrix, started)
    first_ms: list[int] = []

    def report(objective: float, assigned: int) -> None:
        elapsed = time.perf_counter() - started
        if not first_ms:
            first_ms.append(int(elapsed * 1000))
        if on_progress is not None:
            on_progress({"elapsed": elapsed, "objective": objective, "assigned": float(assigned)})

    able = able_shifts(problem)
    start_routes = _start_routes(problem, matrix, able, hint, deadline)
    fallback = plan_from_routes(problem, matrix, start_routes, started)
    report(float(fallback.objective["total"]), fallback.totals.assigned)
    if not _search_can_start(problem):
        return _solve_by_areas(
            problem, matrix, able, start_routes, fallback, seed, deadline, first_ms, started
        )
    model = build_model(problem, matrix)
    routing = model.routing

    def on_solution() -> None:
        assigned = sum(1 for node in range(len(problem.jobs)) if routing.ActiveVar(node).Value())
        report(float(routing.CostVar().Max()), assigned)

    routing.AddAtSolutionCallback(on_solution)
    routing.CloseModelWithParameters(search_parameters(time_limit, seed, len(problem.jobs)))
    initial = _timed_assignment(model, start_routes)
    solution = None
    if initial is not None and time.perf_counter() < deadline:
        params = search_parameters(deadline - time.perf_counter(), seed, len(problem.jobs))
        if hint is None and len(problem.jobs) <= OWN_FIRST_SOLUTION_UP_TO:
            # On small problems OR-Tools' path-cheapest-arc start leads its search further than ours (2.6 % against
            # 3.6 % mean gap on eight Solomon instances at 5 s); ours stays the fallback.
            params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
            solution = routing.SolveWithParameters(params)
        else:
            solution = routing.SolveFromAssignmentWithParameters(initial, params)
    if solution is None:
        # OR-Tools could not take our start over (it happens with breaks on hundreds of shifts): the
        # constructed plan stands, feasible by construction and checked by the same timeline.
        return _restamp(fallback, first_ms, started)
    plan = _extract(model, solution, first_ms[0] if first_ms else None, started)
    return (
        plan
        if plan.objective["total"] <= fallback.objective["total"]
        else _restamp(fallback, first_ms, started)
    )


def _solve_by_areas(
    problem: Problem,
    matrix: TravelMatrix,
    able: list[set[int]],
    start_routes: list[list[int]],
    fallback: Plan,
    seed: int,
    deadline: float,
    first_ms: list[int],
    started: float,
) -> Plan:
    """Each area solved on its own from its part of the construction, in a share of the time by its jobs."""
    areas = split_technicians(problem, BREAK_SHIFT_LIMIT)
    if len(areas) < 2:
        return _restamp(fallback, first_ms, started)
    parts = area_problems(problem, matrix, areas, start_routes, able)
    by_shift = {r.shift: r for r in fallback.routes}
    routes: list[Route] = []
    left = sum(len(p.jobs) for p in parts)
    # The areas share all but a slice of the time, kept for moving work across their borders.
    areas_deadline = deadline - (deadline - time.perf_counter()) * BORDER_SHARE
    for part in sorted(parts, key=lambda p: -len(p.jobs)):
        seconds = max(0.0, areas_deadline - time.perf_counter()) * len(part.jobs) / max(1, left)
        left -= len(part.jobs)
        hint = msgspec.structs.replace(
            fallback, routes=tuple(by_shift[s.id] for _, s in part.shifts if s.id in by_shift)
        )
        routes += solve(part, time_limit=seconds, seed=seed, hint=hint).routes
    routes = _fill_across_borders(problem, matrix, routes, able, deadline)
    served = {s.job for r in routes for s in r.stops}
    joined = _plan(
        problem,
        matrix,
        tuple(routes),
        left_out_ids={j.id for j in problem.jobs if j.id not in served},
        first_ms=first_ms[0] if first_ms else None,
        started=started,
    )
    if joined.objective["total"] <= fallback.objective["total"]:
        return joined
    return _restamp(fallback, first_ms, started)


def _fill_across_borders(
    problem: Problem, matrix: TravelMatrix, routes: list[Route], able: list[set[int]], deadline: float
) -> list[Route]:
    """The areas' routes with the jobs their own area could not fit put into routes of other areas where they
    fit; the routes that gain work are re-timed by the timeline, the rest stay as their area's solve left them."""
    filled = insert_left_out(problem, matrix, sequences_of(problem, routes), able, deadline=deadline)
    return retime_changed(problem, matrix, routes, filled)


def sequences_of(problem: Problem, routes: Sequence[Route]) -> list[list[int]]:
    """Routes as job indices per shift, in `problem.shifts` order."""
    index_of_job = {j.id: i for i, j in enumerate(problem.jobs)}
    by_shift = {r.shift: [index_of_job[s.job] for s in r.stops] for r in routes}
    return [by_shift.get(shift.id, []) for _, shift in problem.shifts]


def retime_changed(
    problem: Problem, matrix: TravelMatrix, routes: Sequence[Route], sequences: list[list[int]]
) -> list[Route]:
    """`routes` with every shift whose sequence of jobs differs in `sequences` (per shift, in `problem.shifts`
    order) timed again by the timeline; the others keep their times. The changed sequences must hold."""
    before = sequences_of(problem, routes)
    changed = [new if new != old else [] for old, new in zip(before, sequences, strict=True)]
    retimed = {r.shift: r for r in _timed_routes(problem, matrix, changed)}
    kept = {r.shift: r for r in routes}
    out = []
    for (_, shift), old, new in zip(problem.shifts, before, sequences, strict=True):
        if new == old and shift.id in kept:
            out.append(kept[shift.id])
        elif shift.id in retimed:
            out.append(retimed[shift.id])
    return out


def plan_with_routes(problem: Problem, matrix: TravelMatrix, routes: Sequence[Route]) -> Plan:
    """A plan of these routes, with the jobs they leave out explained and the objective recomputed."""
    served = {s.job for r in routes for s in r.stops}
    return _plan(
        problem,
        matrix,
        tuple(routes),
        left_out_ids={j.id for j in problem.jobs if j.id not in served},
        first_ms=None,
        started=time.perf_counter(),
    )


def _search_can_start(problem: Problem) -> bool:
    """Whether OR-Tools can take over our first plan. With breaks on many shifts it cannot: its restore phase
    places breaks by a search of its own that fails (measured from about 60 shifts with breaks) after running
    past the time limit (19 s on a 10 s limit at 2,000 jobs and 308 shifts)."""
    return sum(1 for _, shift in problem.shifts if shift.breaks) <= BREAK_SHIFT_LIMIT


def _restamp(plan: Plan, first_ms: list[int], started: float) -> Plan:
    return msgspec.structs.replace(
        plan,
        first_solution_ms=first_ms[0] if first_ms else None,
        solve_ms=int((time.perf_counter() - started) * 1000),
    )


def search_parameters(
    seconds: float, seed: int = 0, jobs: int = 0
) -> pywrapcp.DefaultRoutingSearchParameters:
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    operators = params.local_search_operators
    # The insertion-based LNS operators cost a full cheapest-insertion pass per move: measured on Solomon they
    # lose more time than they gain, and at a thousand jobs they leave room for a handful of moves a second.
    for name in LNS_OPERATORS:
        setattr(operators, name, optional_boolean_pb2.BOOL_FALSE)
    # OR-Tools' search is deterministic; the seed only needs to reach the parts that draw at random.
    params.log_tag = f"seed-{seed}"
    params.time_limit.FromMilliseconds(max(1, int(seconds * 1000)))
    return params


def _start_routes(
    problem: Problem, matrix: TravelMatrix, able: list[set[int]], hint: Plan | None, deadline: float
) -> list[list[int]]:
    """The previous plan's routes as far as they still hold, completed by the construction."""
    previous = _hint_routes(problem, hint) if hint is not None else None
    # Leave most of the time for the search: the construction stops adding work at a third of what is left.
    budget = max(0.0, deadline - time.perf_counter())
    return construct(
        problem,
        matrix,
        able,
        deadline=time.perf_counter() + budget / 3,
        start_from=previous,
    )


def plan_from_routes(
    problem: Problem,
    matrix: TravelMatrix,
    routes: list[list[int]],
    started: float | None = None,
    *,
    explain: bool = True,
) -> Plan:
    """A plan from routes (job indices per shift, in `problem.shifts` order) that the timeline accepts, timed
    by the timeline, with the jobs left out explained (or, `explain=False`, listed without reasons: explaining
    tries every job on every shift, which a plan used only as a backdrop does not need)."""
    out = _timed_routes(problem, matrix, routes)
    served = {s.job for r in out for s in r.stops}
    return _plan(
        problem,
        matrix,
        out,
        left_out_ids={j.id for j in problem.jobs if j.id not in served},
        first_ms=None,
        started=time.perf_counter() if started is None else started,
        explain=explain,
    )


def _timed_routes(problem: Problem, matrix: TravelMatrix, routes: list[list[int]]) -> tuple[Route, ...]:
    """The non-empty routes (job indices per shift) as the timeline times them."""
    jobs = {j.id: j for j in problem.jobs}
    out: list[Route] = []
    for (technician, shift), route in zip(problem.shifts, routes, strict=True):
        if not route:
            continue
        cursor = open_cursor(shift)
        stops = []
        for node in route:
            job = problem.jobs[node]
            step = visit(cursor, job, shift, matrix, not_before=problem.freeze_time or 0)
            assert step is not None, "construction and hints are checked against the same timeline"
            cursor, timed = step
            stops.append(
                Stop(
                    job=job.id,
                    arrival=timed.arrival,
                    start=timed.start,
                    end=timed.end,
                    travel=timed.travel,
                    waiting=timed.start - timed.arrival,
                )
            )
        closed = close(cursor, shift, matrix)
        assert closed is not None
        route_plan = Route(
            technician=technician.id,
            shift=shift.id,
            stops=tuple(stops),
            breaks=tuple(
                BreakTaken(start=at, end=at + shift.breaks[k].duration) for k, at in sorted(closed.taken)
            ),
            start=shift.start,
            end=closed.free_at,
            distance=0.0,
            travel_time=closed.travel,
        )
        out.append(_with_distance(route_plan, route_distance(route_plan, shift, jobs, matrix)))
    return tuple(out)


def _timed_assignment(model: Model, routes: list[list[int]]) -> pywrapcp.Assignment | None:
    """The routes as a complete assignment: successors, every visit's start and every break's start.

    Left for OR-Tools to complete (`ReadAssignmentFromRoutes`), placing the breaks is a search of its own that
    takes seconds at hundreds of jobs and can fail; the timeline knows them already.
    """
    problem, routing = model.problem, model.routing
    assignment = routing.solver().Assignment()
    if not routing.RoutesToAssignment(routes, True, True, assignment):
        return None
    for v, ((_, shift), route) in enumerate(zip(problem.shifts, routes, strict=True)):
        cursor = open_cursor(shift)
        starts = []
        for node in route:
            step = visit(cursor, problem.jobs[node], shift, model.matrix, not_before=problem.freeze_time or 0)
            if step is None:
                return None
            cursor, timed = step
            starts.append((model.manager.NodeToIndex(node), timed.start))
        closed = close(cursor, shift, model.matrix)
        if closed is None:
            return None
        starts += [(routing.Start(v), shift.start), (routing.End(v), closed.free_at)]
        for index, at in starts:
            cumul = model.time.CumulVar(index)
            assignment.Add(cumul)
            assignment.SetValue(cumul, at)
        for k, at in closed.taken:
            interval = model.breaks[v][k]
            assignment.Add(interval)
            assignment.SetStartValue(interval, at)
            assignment.SetDurationValue(interval, shift.breaks[k].duration)
            assignment.SetEndValue(interval, at + shift.breaks[k].duration)
            assignment.SetPerformedValue(interval, 1)
    return assignment


def _hint_routes(problem: Problem, hint: Plan) -> list[list[int]]:
    index_of_job = {j.id: i for i, j in enumerate(problem.jobs)}
    by_shift = {r.shift: r for r in hint.routes}
    routes = []
    for _, shift in problem.shifts:
        route = by_shift.get(shift.id)
        routes.append([index_of_job[s.job] for s in route.stops if s.job in index_of_job] if route else [])
    return routes


def _extract(model: Model, solution: pywrapcp.Assignment, first_ms: int | None, started: float) -> Plan:
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
        index = solution.Value(routing.NextVar(routing.Start(v)))
        if routing.IsEnd(index):
            continue
        stops: list[Stop] = []
        here = shift.start_location
        route_start = solution.Min(model.time.CumulVar(routing.Start(v)))
        free_at = route_start
        travel_total = 0
        while not routing.IsEnd(index):
            job = problem.jobs[manager.IndexToNode(index)]
            start = solution.Min(model.time.CumulVar(index))
            leg = matrix.time_of(here, job.location)
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
        travel_total += matrix.time_of(here, shift.end_location)
        breaks = tuple(
            BreakTaken(start=s, end=e)
            for k in range(len(shift.breaks))
            if (s_e := taken_breaks.get(f"break-{v}-{k}")) is not None
            for s, e in [s_e]
        )
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
        routes.append(_with_distance(route, route_distance(route, shift, jobs, matrix)))
    left_out = [j for j in problem.jobs if j.id not in served]
    return _plan(
        problem,
        matrix,
        tuple(routes),
        left_out_ids={j.id for j in left_out},
        first_ms=first_ms,
        started=started,
        reported=int(solution.ObjectiveValue()),
    )


def _with_distance(route: Route, distance: float) -> Route:
    return Route(
        technician=route.technician,
        shift=route.shift,
        stops=route.stops,
        breaks=route.breaks,
        start=route.start,
        end=route.end,
        distance=distance,
        travel_time=route.travel_time,
    )


def _plan(
    problem: Problem,
    matrix: TravelMatrix,
    routes: tuple[Route, ...],
    *,
    left_out_ids: set[str],
    first_ms: int | None,
    started: float,
    reported: int | None = None,
    status: str = "feasible",
    explain: bool = True,
) -> Plan:
    unassigned = tuple(
        Unassigned(job=j.id, reasons=explain_unassigned(problem, matrix, j) if explain else ())
        for j in problem.jobs
        if j.id in left_out_ids
    )
    totals = Totals(
        distance=sum(r.distance for r in routes),
        travel_time=sum(r.travel_time for r in routes),
        waiting_time=sum(s.waiting for r in routes for s in r.stops),
        vehicles_used=len(routes),
        assigned=sum(len(r.stops) for r in routes),
        unassigned=len(unassigned),
    )
    objective = objective_breakdown(problem, matrix, routes, left_out_ids)
    if reported is not None:
        objective["solver"] = reported
    return Plan(
        routes=routes,
        unassigned=unassigned,
        totals=totals,
        objective=objective,
        status=status,
        first_solution_ms=first_ms,
        solve_ms=int((time.perf_counter() - started) * 1000),
    )


def _plan_without_routes(
    problem: Problem, matrix: TravelMatrix, started: float, status: str = "feasible"
) -> Plan:
    return _plan(
        problem,
        matrix,
        (),
        left_out_ids={j.id for j in problem.jobs},
        first_ms=None,
        started=started,
        status=status,
    )
