"""Slot grading benchmark (issue 3): `grade_slots` against a plan of 30 technicians and about 300 jobs.

Builds a dense field-service day (scheduling.generator: a 15 km city, 15 to 30-minute jobs) with 30 technicians
and 300 jobs, solves it, then grades
five 2-hour windows for each of 50 new requests at random places and reports the time per call (median, p95,
max) over those 50 calls. One process, one core.

    .venv/bin/python bench/slots.py [--technicians 30] [--jobs 300] [--solve-seconds 10]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import msgspec

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script from anywhere: the service's packages live at the top

from scheduling.generator import HOUR, field_service_problem  # noqa: E402
from scheduling.problem import Window  # noqa: E402
from scheduling.slots import grade_slots  # noqa: E402
from scheduling.solver import solve  # noqa: E402
from scheduling.travel import build_matrix  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--technicians", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--solve-seconds", type=float, default=10.0)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    # Extra jobs beyond the plan's are the new requests: same city, same skills mix.
    problem = field_service_problem(
        args.jobs + args.requests,
        seed=7,
        technicians=args.technicians,
        city_metres=15_000,
        service_minutes=(15, 30),
    )
    planned = msgspec.structs.replace(problem, jobs=problem.jobs[: args.jobs])
    plan = solve(planned, time_limit=args.solve_seconds)
    matrix = build_matrix(planned)
    windows = [Window(start=h * HOUR, end=(h + 2) * HOUR) for h in range(8, 17, 2)]
    rng = random.Random(1)
    timings, feasible = [], 0
    for request in problem.jobs[args.jobs :]:
        job = msgspec.structs.replace(request, windows=(), priority=rng.randint(0, 3))
        started = time.perf_counter()
        graded = grade_slots(planned, plan, job, windows, matrix=matrix)
        timings.append((time.perf_counter() - started) * 1000)
        feasible += sum(g.feasible for g in graded)
    timings.sort()
    p95 = timings[max(0, round(0.95 * len(timings)) - 1)]
    print(
        f"plan: {len(plan.routes)} routes, {plan.totals.assigned} of {args.jobs} jobs planned; "
        f"{args.requests} requests x {len(windows)} windows, {feasible} feasible"
    )
    print(
        f"grade_slots: median {statistics.median(timings):.1f} ms, p95 {p95:.1f} ms, max {timings[-1]:.1f} ms"
    )


if __name__ == "__main__":
    main()
