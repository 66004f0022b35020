"""Solve one Solomon VRPTW instance with a peer solver (PyVRP or VROOM) and print the result as JSON.

Run by bench/solomon.py with the interpreter of bench/.venv-peers, the only place where pyvrp and pyvroom are
installed; this file imports nothing from the service.

    bench/.venv-peers/bin/python bench/peers.py pyvrp ../shared/data/vrptw/solomon/R101.txt --time-limit 5

Both peers get the model fieldwork's solver gets: the fleet of the file (no cost per vehicle), capacity,
service times and time windows as given, and one integer matrix for travel time and cost, the Euclidean
distance scaled by SCALE and rounded (0.005 of a unit per arc at most). The distance printed is recomputed
from the routes with exact, unrounded Euclidean distances on the file's coordinates.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import itertools
import json
import math
import sys
import time
import warnings
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

SCALE = 100  # the same as scheduling.solomon.SCALE


@dataclass(frozen=True)
class Customer:
    number: int  # 0 is the depot
    x: float
    y: float
    demand: int
    ready: int
    due: int
    service: int


@dataclass(frozen=True)
class Instance:
    name: str
    vehicles: int
    capacity: int
    sites: list[Customer]  # sites[0] is the depot, sites[i] customer i

    def exact(self, a: int, b: int) -> float:
        return math.hypot(self.sites[a].x - self.sites[b].x, self.sites[a].y - self.sites[b].y)

    def scaled(self, a: int, b: int) -> int:
        return round(self.exact(a, b) * SCALE)


def read_solomon(path: Path) -> Instance:
    lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
    vehicles, capacity = next(
        (int(ln[0]), int(ln[1])) for ln in lines if len(ln) == 2 and ln[0].isdigit() and ln[1].isdigit()
    )
    sites = [
        Customer(int(r[0]), float(r[1]), float(r[2]), int(r[3]), int(r[4]), int(r[5]), int(r[6]))
        for r in lines
        if len(r) == 7 and r[0].isdigit()
    ]
    if [s.number for s in sites] != list(range(len(sites))):
        raise ValueError(f"{path}: customers are not numbered 0..n-1 in order")
    return Instance(path.stem, vehicles, capacity, sites)


def solve_pyvrp(
    instance: Instance, time_limit: float, seed: int
) -> tuple[list[list[int]], dict[str, object]]:
    import pyvrp
    from pyvrp.stop import MaxRuntime

    depot = instance.sites[0]
    model = pyvrp.Model()
    locations = [model.add_location(s.x, s.y) for s in instance.sites]
    start = model.add_depot(locations[0], tw_early=depot.ready * SCALE, tw_late=depot.due * SCALE)
    model.add_vehicle_type(
        num_available=instance.vehicles,
        capacity=[instance.capacity],
        start_depot=start,
        end_depot=start,
        tw_early=depot.ready * SCALE,
        tw_late=depot.due * SCALE,
    )
    for site in instance.sites[1:]:
        model.add_client(
            locations[site.number],
            delivery=[site.demand],
            service_duration=site.service * SCALE,
            tw_early=site.ready * SCALE,
            tw_late=site.due * SCALE,
        )
    for a in range(len(locations)):
        for b in range(len(locations)):
            arc = instance.scaled(a, b)
            model.add_edge(locations[a], locations[b], distance=arc, duration=arc)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = pyvrp.solve(model.data(), stop=MaxRuntime(time_limit), seed=seed, display=False)
    best = result.best
    # Client activity idx counts clients from 0, in the order they were added: customer number idx + 1.
    routes = [[a.idx + 1 for a in route if a.is_client()] for route in best.routes()]
    return routes, {
        "feasible": bool(best.is_feasible()),
        "iterations": int(result.num_iterations),
        "warnings": sorted({str(w.category.__name__) for w in caught}),
    }


def solve_vroom(
    instance: Instance, time_limit: float, seed: int
) -> tuple[list[list[int]], dict[str, object]]:
    import numpy as np
    import vroom

    del seed  # VROOM's search is deterministic
    depot = instance.sites[0]
    n = len(instance.sites)
    problem = vroom.Input()
    matrix = np.array([[instance.scaled(a, b) for b in range(n)] for a in range(n)], dtype=np.uint32)
    # VROOM minimises cost, which is the travel duration unless told otherwise: here the scaled distance.
    problem.set_durations_matrix(profile="car", matrix_input=matrix)
    problem.add_vehicle(
        [
            vroom.Vehicle(
                k + 1,
                start=0,
                end=0,
                capacity=[instance.capacity],
                time_window=vroom.TimeWindow(depot.ready * SCALE, depot.due * SCALE),
            )
            for k in range(instance.vehicles)
        ]
    )
    problem.add_job(
        [
            vroom.Job(
                site.number,
                location=site.number,
                default_service=site.service * SCALE,
                delivery=[site.demand],
                time_windows=[vroom.TimeWindow(site.ready * SCALE, site.due * SCALE)],
            )
            for site in instance.sites[1:]
        ]
    )
    # One thread: fieldwork's OR-Tools search and PyVRP each use one core, and the machine has two.
    solution = problem.solve(exploration_level=5, nb_threads=1, timeout=timedelta(seconds=time_limit))
    answer = solution.to_dict()
    routes = [[step["id"] for step in route["steps"] if step["type"] == "job"] for route in answer["routes"]]
    return routes, {
        "feasible": answer["code"] == 0 and not answer["summary"].get("violations"),
        "unassigned_reported": len(answer["unassigned"]),
    }


# solver: (function, module, distribution)
SOLVERS = {"pyvrp": (solve_pyvrp, "pyvrp", "pyvrp"), "vroom": (solve_vroom, "vroom", "pyvroom")}


def route_distance(instance: Instance, route: list[int]) -> float:
    stops = [0, *route, 0]
    return sum(instance.exact(a, b) for a, b in itertools.pairwise(stops))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("solver", choices=sorted(SOLVERS))
    parser.add_argument("instance", type=Path, help="a Solomon .txt file")
    parser.add_argument("--time-limit", type=float, default=5.0, help="seconds (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    instance = read_solomon(args.instance)
    solve, module, package = SOLVERS[args.solver]
    importlib.import_module(module)  # imported before the clock starts: the wall time is model + search
    started, cpu = time.perf_counter(), time.process_time()
    routes, extra = solve(instance, args.time_limit, args.seed)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    routes = [r for r in routes if r]
    json.dump(
        {
            "solver": args.solver,
            "version": importlib.metadata.version(package),
            "instance": instance.name,
            "time_limit": args.time_limit,
            "seed": args.seed,
            "distance": sum(route_distance(instance, r) for r in routes),
            "vehicles": len(routes),
            "served": len({c for r in routes for c in r}),
            "customers": len(instance.sites) - 1,
            "wall_s": wall,
            "cpu_s": cpu,
            "routes": routes,
            **extra,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
