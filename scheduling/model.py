"""The OR-Tools routing model of a problem, one named piece per rule of docs/scheduling.md.

One vehicle per shift; node i < len(jobs) is job i, then each shift's start and end. Every hard rule is a
constraint; the medium rule makes each job optional at a penalty above any soft cost; each soft goal is a cost.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
from ortools.constraint_solver import pywrapcp

from scheduling.penalties import drop_penalty, end_of_plan
from scheduling.preferences import preference_cost
from scheduling.problem import Problem
from scheduling.travel import TravelMatrix
from scheduling.validate import allowed, holds_skills

# Jobs times distinct technician profiles above which preferences are not modelled (see add_preference_cost).
PREFERENCE_LIMIT = 20_000


@dataclass
class Model:
    problem: Problem
    matrix: TravelMatrix
    manager: pywrapcp.RoutingIndexManager
    routing: pywrapcp.RoutingModel
    time: pywrapcp.RoutingDimension
    node_location: list[int]
    service: list[int]
    # able[j]: the vehicles (shifts) that may do job j under the skill, technician and pin rules.
    able: list[set[int]] = field(default_factory=list)
    breaks: list[list[pywrapcp.IntervalVar]] = field(default_factory=list)

    @property
    def solver(self) -> pywrapcp.Solver:
        return self.routing.solver()


def build_model(problem: Problem, matrix: TravelMatrix) -> Model:
    shifts = problem.shifts
    node_location = [j.location for j in problem.jobs]
    starts, ends = [], []
    for _, shift in shifts:
        starts.append(len(node_location))
        node_location.append(shift.start_location)
        ends.append(len(node_location))
        node_location.append(shift.end_location)
    service = [j.duration for j in problem.jobs] + [0] * (2 * len(shifts))
    manager = pywrapcp.RoutingIndexManager(len(node_location), len(shifts), starts, ends)
    routing = pywrapcp.RoutingModel(manager)
    model = Model(problem, matrix, manager, routing, None, node_location, service)
    add_travel_costs(model)
    model.time = add_time(model)
    model.able = able_shifts(problem)
    for rule in (
        add_time_windows,
        add_shifts,
        add_breaks,
        add_skills_and_technicians,
        add_pins,
        add_capacity,
        add_max_travel,
        add_drop_penalties,
        add_overtime_cost,
        add_lateness_cost,
        add_preference_cost,
        add_fairness_cost,
    ):
        rule(model)
    return model


def able_shifts(problem: Problem) -> list[set[int]]:
    """For each job, the shifts that may do it: skills, required and excluded technicians, and its pin."""
    shifts = problem.shifts
    shift_index = {s.id: v for v, (_, s) in enumerate(shifts)}
    able = []
    for job in problem.jobs:
        may = {v for v, (t, _) in enumerate(shifts) if holds_skills(t, job) and allowed(t, job)}
        if job.pin is not None:
            may &= {shift_index[job.pin.shift]}
        able.append(may)
    return able


def _submatrix(model: Model, values: np.ndarray) -> np.ndarray:
    nodes = np.asarray(model.node_location, dtype=np.int64)
    result: np.ndarray = values[np.ix_(nodes, nodes)]
    return result


def add_travel_costs(model: Model) -> None:
    """Soft: travel time and distance, as the arc cost; a fixed cost per route used."""
    w = model.problem.weights
    cost = w.travel_time * _submatrix(model, model.matrix.time)
    if w.distance:
        cost = cost + w.distance * _submatrix(model, model.matrix.distance)
    model.routing.SetArcCostEvaluatorOfAllVehicles(model.routing.RegisterTransitMatrix(cost.tolist()))
    if w.vehicle:
        model.routing.SetFixedCostOfAllVehicles(w.vehicle)


def horizon(problem: Problem) -> int:
    ends = [s.end + s.overtime for _, s in problem.shifts]
    ends += [w.end for j in problem.jobs for w in j.windows]
    return max(ends, default=0) + 1


def add_time(model: Model) -> pywrapcp.RoutingDimension:
    """The clock: a visit's start is its cumul; travel and the previous visit's service are the transit."""
    transit = _submatrix(model, model.matrix.time) + np.asarray(model.service, dtype=np.int64)[:, None]
    callback = model.routing.RegisterTransitMatrix(transit.tolist())
    limit = horizon(model.problem)
    model.routing.AddDimension(callback, limit, limit, False, "time")
    dimension = model.routing.GetDimensionOrDie("time")
    span = model.problem.weights.span
    if span:
        dimension.SetSpanCostCoefficientForAllVehicles(span)
    return dimension


def add_time_windows(model: Model) -> None:
    """Hard: a visit starts inside one of its job's windows, and not before the freeze time unless frozen."""
    freeze = model.problem.freeze_time or 0
    for node, job in enumerate(model.problem.jobs):
        if job.pin is not None and job.pin.start is not None:
            continue
        cumul = model.time.CumulVar(model.manager.NodeToIndex(node))
        low = max(freeze, job.windows[0].start if job.windows else 0)
        high = job.windows[-1].end if job.windows else cumul.Max()
        if low > high:
            model.routing.ActiveVar(model.manager.NodeToIndex(node)).SetValue(0)
            continue
        cumul.SetRange(low, high)
        for before, after in itertools.pairwise(job.windows):
            if after.start - 1 >= max(low, before.end + 1):
                cumul.RemoveInterval(max(low, before.end + 1), after.start - 1)


def add_shifts(model: Model) -> None:
    """Hard: each route leaves the shift's start place no earlier than its start and is back by its end plus
    the overtime it allows.

    OR-Tools' default finalizer sets every cumul to its least value, which is what a plan reports. Asking for
    start and end to be minimised on top of that made it fail to take over a valid starting plan once breaks
    sat on a few dozen shifts (two routes at 39 shifts, each fine alone).
    """
    routing = model.routing
    for v, (_, shift) in enumerate(model.problem.shifts):
        start, end = model.time.CumulVar(routing.Start(v)), model.time.CumulVar(routing.End(v))
        start.SetRange(shift.start, shift.end + shift.overtime)
        end.SetRange(shift.start, shift.end + shift.overtime)


def add_breaks(model: Model) -> None:
    """Hard: every break of a shift is taken inside its bounds, never during a visit."""
    solver = model.solver
    for v, (_, shift) in enumerate(model.problem.shifts):
        intervals = [
            solver.FixedDurationIntervalVar(
                rest.earliest_start, rest.latest_end - rest.duration, rest.duration, False, f"break-{v}-{k}"
            )
            for k, rest in enumerate(shift.breaks)
        ]
        if intervals:
            model.time.SetBreakIntervalsOfVehicle(intervals, v, model.service)
        model.breaks.append(intervals)


def add_skills_and_technicians(model: Model) -> None:
    """Hard: only a technician who holds every skill at its level, and is not excluded (or is the one required),
    may do the job."""
    everyone = len(model.problem.shifts)
    for node, job in enumerate(model.problem.jobs):
        if job.pin is None and len(model.able[node]) < everyone:
            model.routing.VehicleVar(model.manager.NodeToIndex(node)).SetValues(
                [-1, *sorted(model.able[node])]
            )


def add_pins(model: Model) -> None:
    """Hard: pinned work stays with its shift, in its sequence; frozen work starts exactly when it was set to."""
    shift_index = {s.id: v for v, (_, s) in enumerate(model.problem.shifts)}
    pinned: dict[int, list[tuple[int, int]]] = {}
    for node, job in enumerate(model.problem.jobs):
        if job.pin is None:
            continue
        v = shift_index[job.pin.shift]
        index = model.manager.NodeToIndex(node)
        if not model.able[node]:  # pinned to a technician who may not do it
            model.routing.ActiveVar(index).SetValue(0)
            continue
        model.routing.VehicleVar(index).SetValues([-1, v])
        if job.pin.start is not None:
            model.time.CumulVar(index).SetValue(job.pin.start)
        pinned.setdefault(v, []).append((job.pin.sequence, index))
    for visits in pinned.values():
        visits.sort()
        for (_, a), (_, b) in itertools.pairwise(visits):
            model.solver.Add(model.time.CumulVar(a) < model.time.CumulVar(b))


def add_capacity(model: Model) -> None:
    """Hard: the load a route carries stays within its shift's capacity."""
    shifts = model.problem.shifts
    if all(s.capacity is None for _, s in shifts):
        return
    demand = [j.demand for j in model.problem.jobs] + [0] * (2 * len(shifts))
    callback = model.routing.RegisterUnaryTransitVector(demand)
    total = sum(demand)
    capacities = [s.capacity if s.capacity is not None else total for _, s in shifts]
    model.routing.AddDimensionWithVehicleCapacity(callback, 0, capacities, True, "load")


def add_max_travel(model: Model) -> None:
    """Hard: a shift's total travel time stays within its maximum, where it has one."""
    shifts = model.problem.shifts
    if all(s.max_travel is None for _, s in shifts):
        return
    callback = model.routing.RegisterTransitMatrix(_submatrix(model, model.matrix.time).tolist())
    limit = 2 * horizon(model.problem)
    limits = [s.max_travel if s.max_travel is not None else limit for _, s in shifts]
    model.routing.AddDimensionWithVehicleCapacity(callback, 0, limits, True, "travel")


def add_drop_penalties(model: Model) -> None:
    """Medium: every job is optional, and leaving it out costs more than any soft goal could gain."""
    end_of_horizon = end_of_plan(model.problem)
    for node, job in enumerate(model.problem.jobs):
        index = model.manager.NodeToIndex(node)
        model.routing.AddDisjunction([index], drop_penalty(job, end_of_horizon))


def add_overtime_cost(model: Model) -> None:
    """Soft: time past the end of a shift (within the overtime it allows)."""
    weight = model.problem.weights.overtime
    for v, (_, shift) in enumerate(model.problem.shifts):
        if shift.overtime and weight:
            model.time.SetCumulVarSoftUpperBound(model.routing.End(v), shift.end, weight)


def add_lateness_cost(model: Model) -> None:
    """Soft: a visit that starts after the end of the job's preferred window."""
    weight = model.problem.weights.lateness
    for node, job in enumerate(model.problem.jobs):
        if job.preferred_window is not None and weight:
            index = model.manager.NodeToIndex(node)
            model.time.SetCumulVarSoftUpperBound(index, job.preferred_window.end, weight)


def add_preference_cost(model: Model) -> None:
    """Soft: a job done by a technician the customer did not prefer, or by one more qualified than it needs.

    A dimension whose transit is the cost of visiting each node with each vehicle; its span is the cost. OR-Tools
    takes seconds to close a model with many distinct such rows over many jobs (5 s at 1,000 jobs and 154
    technicians), so beyond PREFERENCE_LIMIT the goal is reported in the objective but not optimised."""
    problem = model.problem
    per_vehicle = [
        [preference_cost(problem, technician, job) for job in problem.jobs] + [0] * (2 * len(problem.shifts))
        for technician, _ in problem.shifts
    ]
    if not any(any(row) for row in per_vehicle):
        return
    distinct = {tuple(row) for row in per_vehicle}
    if len(problem.jobs) * len(distinct) > PREFERENCE_LIMIT:
        return
    callbacks = {key: model.routing.RegisterUnaryTransitVector(list(key)) for key in distinct}
    evaluators = [callbacks[tuple(row)] for row in per_vehicle]
    limit = sum(max(column) for column in zip(*per_vehicle, strict=True)) + 1
    model.routing.AddDimensionWithVehicleTransits(evaluators, 0, limit, True, "preference")
    model.routing.GetDimensionOrDie("preference").SetSpanCostCoefficientForAllVehicles(1)


def add_fairness_cost(model: Model) -> None:
    """Soft: a route that carries more than an even share of the jobs."""
    problem = model.problem
    weight = problem.weights.fairness
    if not weight or not problem.shifts:
        return
    count = [1] * len(problem.jobs) + [0] * (2 * len(problem.shifts))
    callback = model.routing.RegisterUnaryTransitVector(count)
    model.routing.AddDimension(callback, 0, len(problem.jobs), True, "visits")
    visits = model.routing.GetDimensionOrDie("visits")
    share = -(-len(problem.jobs) // len(problem.shifts))
    for v in range(len(problem.shifts)):
        visits.SetCumulVarSoftUpperBound(model.routing.End(v), share, weight)
