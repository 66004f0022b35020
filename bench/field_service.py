"""Field-service benchmark: fieldwork's scheduler against VROOM on generated instances of 100 to 2,000 jobs.

For each size it builds `scheduling.generator.field_service_problem(jobs, seed=--seed)` (Euclidean metres, one
8-hour shift per technician with a 30-minute lunch break, 2-hour windows, skills with levels, priorities 0-3),
then solves it twice, one solve at a time (never two at once: the machine has two cores):

1. fieldwork: `scheduling.solver.solve(problem, time_limit=--time-limit)` in a fresh child process of the
   service's interpreter, which builds the same instance from the same seed (a digest of the problem proves it),
   and writes its plan back;
2. VROOM (pyvroom, exploration level 5, one thread, a timeout of --time-limit) in a child process of
   bench/.venv-peers, the peers' virtualenv bench/solomon.py creates (and this script too, on first use).

    .venv/bin/python bench/field_service.py                               # 100, 500, 1000, 2000 jobs, 10 s
    .venv/bin/python bench/field_service.py --sizes 100 --time-limit 2

Both solve the same model. VROOM gets fieldwork's own rounded integer travel-time matrix
(`scheduling.travel.build_matrix(problem).time`) as its durations, so travel time is also its cost; a vehicle
per shift, from its start to its end location inside the shift's hours; the lunch break (a VROOM break may start
from `earliest_start` to `latest_end - duration`); each job's duration, windows and skills. VROOM's skills are
plain labels, so every (skill, level) pair gets an integer: a technician holds the integers of every level up to
his own, a job needs the one of its level. VROOM maximises the sum of the priorities it serves before anything
else; its priorities (0-100) are 12, 25, 50, 100 for fieldwork's 0-3, the ratios of fieldwork's costs for
leaving a job out (2**priority). fieldwork's objective also charges a minute per skill level a technician has
above the job's need (`Weights.over_qualification`), which VROOM does not know of.

How it measures:
- jobs assigned and travel time come from the plan: for VROOM, from its routes timed with VROOM's own arrival,
  waiting and break times, made into a fieldwork Plan and summed on the same matrix;
- violations: `scheduling.validate.validate` on both plans, the same rules (skills, windows, travel, breaks,
  shift end), the same matrix;
- first plan: fieldwork's `plan.first_solution_ms` (VROOM reports no intermediate solution);
- final: the wall time of the solve inside the child (for VROOM: building its input and solving), so neither
  counts starting Python and importing;
- peak memory: the child's own peak resident set size (VmHWM in /proc/self/status, read at its end; not
  `ru_maxrss`, which on Linux a child inherits from the process that spawned it), which includes the
  interpreter and its imports (fieldwork: OR-Tools, NumPy, the instance and its matrices; VROOM: NumPy and the
  matrix); the peak before the solve starts is in the JSON as `rss_before_solve_mb`.

It prints a markdown table per size and writes the records, the machine and the versions to
bench/results/field-service-<UTC time>.json (gitignored).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib
import importlib.metadata
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
RESULTS_DIR = BENCH / "results"
VROOM_WORKER = "vroom-worker"  # run in bench/.venv-peers, where the service's packages are not installed
FIELDWORK_WORKER = "fieldwork-worker"
EXPLORATION_LEVEL = 5
VROOM_PRIORITY = (12, 25, 50, 100)  # by fieldwork priority 0..3: proportional to 2**priority
MAX_LEVEL = 5  # scheduling.problem.Level

if sys.argv[1:2] != [VROOM_WORKER]:
    sys.path.insert(0, str(REPO))  # run as a script from anywhere: the service's packages live at the top
    import msgspec
    from solomon import PEERS_PYTHON, ensure_peers_venv, machine, peer_plan

    from scheduling.generator import field_service_problem
    from scheduling.plan import BreakTaken, Plan, Route, Stop, plan_encoder
    from scheduling.problem import Problem
    from scheduling.solver import solve
    from scheduling.travel import TravelMatrix, build_matrix
    from scheduling.validate import route_distance, validate


@dataclass
class Outcome:
    """One solver on one instance. Times in seconds, memory in MB."""

    solver: str
    assigned: int | None = None
    assigned_by_priority: dict[int, int] = field(default_factory=dict)  # priority 3 first
    travel_time_s: int | None = None
    distance_km: float | None = None
    routes: int | None = None
    first_s: float | None = None
    wall_s: float | None = None
    cpu_s: float | None = None
    peak_mb: float | None = None
    rss_before_solve_mb: float | None = None
    violations: int | None = None
    violation_samples: list[str] = field(default_factory=list)
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def megabytes(kib: int) -> float:
    return kib / 1024


def peak_kb() -> int:
    """This process's peak resident set size in KiB: Linux's VmHWM. Not `ru_maxrss`, which a child inherits
    from the process that spawned it (measured: a child of a parent holding 500 MB reports 511 MB, VmHWM 11)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status (not Linux?)")


def digest(problem: Problem) -> str:
    return hashlib.sha256(msgspec.json.encode(problem)).hexdigest()[:16]


def child_timeout(time_limit: float) -> float:
    return 5 * time_limit + 300


def run_child(command: list[str], time_limit: float) -> tuple[dict[str, Any] | None, str | None]:
    """Run a worker and read the JSON it prints: (answer, None), or (None, what went wrong)."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=child_timeout(time_limit))
    except subprocess.TimeoutExpired:
        return None, f"no answer within {child_timeout(time_limit):.0f} s"
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-3:]
        return None, f"exit {done.returncode}: {' | '.join(tail)}"
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer, None


# --- fieldwork -----------------------------------------------------------------------------------------------


def fieldwork_worker(jobs: int, seed: int, time_limit: float, plan_path: Path) -> None:
    """In the child: build the instance, solve it, write the plan to `plan_path`, print the measurements."""
    problem = field_service_problem(jobs, seed=seed)
    before = peak_kb()
    started, cpu = time.perf_counter(), time.process_time()
    plan = solve(problem, time_limit=time_limit, seed=seed)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    plan_path.write_bytes(plan_encoder.encode(plan))
    json.dump(
        {
            "digest": digest(problem),
            "wall_s": wall,
            "cpu_s": cpu,
            "peak_before_kb": before,
            "peak_kb": peak_kb(),
        },
        sys.stdout,
    )


def run_fieldwork(
    problem: Problem, matrix: TravelMatrix, jobs: int, args: argparse.Namespace, scratch: Path
) -> Outcome:
    plan_path = scratch / f"fieldwork-{jobs}.json"
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        FIELDWORK_WORKER,
        "--sizes",
        str(jobs),
        "--seed",
        str(args.seed),
        "--time-limit",
        str(args.time_limit),
        "--plan",
        str(plan_path),
    ]
    answer, error = run_child(command, args.time_limit)
    if answer is None:
        return Outcome(solver="fieldwork", error=error)
    if answer["digest"] != digest(problem):
        return Outcome(solver="fieldwork", error="the child built a different instance")
    plan = msgspec.json.decode(plan_path.read_bytes(), type=Plan)
    outcome = measure_plan("fieldwork", problem, matrix, plan, answer)
    outcome.first_s = plan.first_solution_ms / 1000 if plan.first_solution_ms is not None else None
    outcome.extra = {"status": plan.status, "objective": plan.objective, "solve_ms": plan.solve_ms}
    return outcome


def measure_plan(
    solver: str, problem: Problem, matrix: TravelMatrix, plan: Plan, answer: dict[str, Any]
) -> Outcome:
    """The figures every solver is judged by, from its plan and its child's measurements."""
    violations = [f"{v.rule} {v.subject}: {v.message}" for v in validate(problem, plan, matrix)]
    served = {stop.job for route in plan.routes for stop in route.stops}
    by_priority = {p: 0 for p in (3, 2, 1, 0)}
    for job in problem.jobs:
        if job.id in served:
            by_priority[job.priority] += 1
    return Outcome(
        solver=solver,
        assigned=len(served),
        assigned_by_priority=by_priority,
        travel_time_s=plan.totals.travel_time,
        distance_km=plan.totals.distance / 1000,
        routes=sum(1 for route in plan.routes if route.stops),
        wall_s=answer["wall_s"],
        cpu_s=answer["cpu_s"],
        peak_mb=megabytes(answer["peak_kb"]),
        rss_before_solve_mb=megabytes(answer["peak_before_kb"]),
        violations=len(violations),
        violation_samples=violations[:5],
    )


# --- VROOM ---------------------------------------------------------------------------------------------------


def unsupported(problem: Problem) -> list[str]:
    """Rules of the problem that the VROOM input below does not carry over (the generator uses none)."""
    found = []
    if problem.freeze_time is not None:
        found.append("freeze_time")
    for job in problem.jobs:
        if job.required_technicians or job.excluded_technicians or job.pin is not None or job.demand:
            found.append(f"job {job.id}: required/excluded technicians, pin or demand")
    for _, shift in problem.shifts:
        if shift.overtime or shift.max_travel is not None or shift.capacity is not None:
            found.append(f"shift {shift.id}: overtime, max_travel or capacity")
    return found


def vroom_input(problem: Problem) -> dict[str, Any]:
    """The problem in plain terms for the VROOM worker: vehicle k + 1 is shift k, job i + 1 is job i."""
    names = sorted(
        {s for t in problem.technicians for s in t.skills} | {n.skill for j in problem.jobs for n in j.skills}
    )
    label = {pair: k for k, pair in enumerate(itertools.product(names, range(1, MAX_LEVEL + 1)), 1)}
    vehicles = [
        {
            "id": k + 1,
            "start": shift.start_location,
            "end": shift.end_location,
            "time_window": [shift.start, shift.end],
            "skills": sorted(
                label[skill, level]
                for skill, held in technician.skills.items()
                for level in range(1, held + 1)
            ),
            "breaks": [
                {
                    "id": b + 1,
                    "time_windows": [[rule.earliest_start, rule.latest_end - rule.duration]],
                    "service": rule.duration,
                }
                for b, rule in enumerate(shift.breaks)
            ],
        }
        for k, (technician, shift) in enumerate(problem.shifts)
    ]
    jobs = [
        {
            "id": i + 1,
            "location": job.location,
            "service": job.duration,
            "skills": sorted(label[need.skill, need.level] for need in job.skills),
            "priority": VROOM_PRIORITY[job.priority],
            "time_windows": [[w.start, w.end] for w in job.windows],
        }
        for i, job in enumerate(problem.jobs)
    ]
    return {"vehicles": vehicles, "jobs": jobs}


def vroom_worker(directory: Path, time_limit: float) -> None:
    """In the child, in bench/.venv-peers: solve input.json on matrix.npy with pyvroom, print the routes."""
    vroom: Any = importlib.import_module("vroom")
    given = json.loads((directory / "input.json").read_text())
    durations = np.load(directory / "matrix.npy")
    before = peak_kb()
    started, cpu = time.perf_counter(), time.process_time()
    model = vroom.Input()
    model.set_durations_matrix(profile="car", matrix_input=durations)
    model.add_vehicle(
        [
            vroom.Vehicle(
                v["id"],
                start=v["start"],
                end=v["end"],
                skills=set(v["skills"]),
                time_window=vroom.TimeWindow(*v["time_window"]),
                breaks=[
                    vroom.Break(
                        b["id"],
                        time_windows=[vroom.TimeWindow(*w) for w in b["time_windows"]],
                        service=b["service"],
                    )
                    for b in v["breaks"]
                ],
            )
            for v in given["vehicles"]
        ]
    )
    model.add_job(
        [
            vroom.Job(
                j["id"],
                location=j["location"],
                default_service=j["service"],
                skills=set(j["skills"]),
                priority=j["priority"],
                time_windows=[vroom.TimeWindow(*w) for w in j["time_windows"]],
            )
            for j in given["jobs"]
        ]
    )
    solution = model.solve(
        exploration_level=EXPLORATION_LEVEL, nb_threads=1, timeout=timedelta(seconds=time_limit)
    )
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    answer = solution.to_dict()
    json.dump(
        {
            "version": importlib.metadata.version("pyvroom"),
            "wall_s": wall,
            "cpu_s": cpu,
            "peak_before_kb": before,
            "peak_kb": peak_kb(),
            "code": answer["code"],
            "summary": answer["summary"],
            "routes": [
                {
                    "vehicle": route["vehicle"],
                    "steps": [
                        {k: step.get(k) for k in ("type", "id", "arrival", "waiting_time", "service")}
                        for step in route["steps"]
                    ],
                }
                for route in answer["routes"]
            ],
        },
        sys.stdout,
    )


def run_vroom(
    problem: Problem, matrix: TravelMatrix, jobs: int, args: argparse.Namespace, scratch: Path
) -> Outcome:
    missing = unsupported(problem)
    if missing:
        return Outcome(solver="vroom", error=f"not carried over to VROOM: {'; '.join(missing[:3])}")
    directory = scratch / f"vroom-{jobs}"
    directory.mkdir()
    (directory / "input.json").write_text(json.dumps(vroom_input(problem)))
    np.save(directory / "matrix.npy", matrix.time.astype(np.uint32))
    command = [
        str(PEERS_PYTHON),
        str(Path(__file__).resolve()),
        VROOM_WORKER,
        str(directory),
        str(args.time_limit),
    ]
    answer, error = run_child(command, args.time_limit)
    if answer is None:
        return Outcome(solver="vroom", error=error)
    plan = plan_from_vroom(problem, matrix, answer["routes"])
    outcome = measure_plan("vroom", problem, matrix, plan, answer)
    summary = answer["summary"]
    outcome.extra = {
        "version": answer["version"],
        "code": answer["code"],
        "reported_travel_time_s": summary["duration"],
        "reported_unassigned": summary["unassigned"],
        "reported_violations": summary.get("violations", []),
        "computing_times_ms": summary.get("computing_times", {}),
        "exploration_level": EXPLORATION_LEVEL,
        "threads": 1,
        "timeout_s": args.time_limit,
    }
    if summary["duration"] != outcome.travel_time_s:
        outcome.violation_samples.append(
            f"VROOM reports {summary['duration']} s of travel, its routes measure {outcome.travel_time_s} s"
        )
    return outcome


def plan_from_vroom(problem: Problem, matrix: TravelMatrix, routes: list[dict[str, Any]]) -> Plan:
    """A fieldwork Plan of VROOM's routes with VROOM's own times, for `validate` to judge by fieldwork's rules."""
    shifts = problem.shifts
    jobs = {j.id: j for j in problem.jobs}
    planned: list[Route] = []
    for answer in routes:
        technician, shift = shifts[answer["vehicle"] - 1]
        here, travel = shift.start_location, 0
        stops: list[Stop] = []
        breaks: list[BreakTaken] = []
        start = end = shift.start
        for step in answer["steps"]:
            begins = step["arrival"] + step["waiting_time"]
            if step["type"] == "start":
                start = step["arrival"]
            elif step["type"] == "break":
                breaks.append(BreakTaken(start=begins, end=begins + step["service"]))
            elif step["type"] == "job":
                job = problem.jobs[step["id"] - 1]
                leg = matrix.time_of(here, job.location)
                stops.append(
                    Stop(
                        job=job.id,
                        arrival=step["arrival"],
                        start=begins,
                        end=begins + step["service"],
                        travel=leg,
                        waiting=step["waiting_time"],
                    )
                )
                here, travel = job.location, travel + leg
            elif step["type"] == "end":
                end = step["arrival"]
        route = Route(
            technician=technician.id,
            shift=shift.id,
            stops=tuple(stops),
            breaks=tuple(breaks),
            start=start,
            end=end,
            distance=0.0,
            travel_time=travel + matrix.time_of(here, shift.end_location),
        )
        planned.append(msgspec.structs.replace(route, distance=route_distance(route, shift, jobs, matrix)))
    return peer_plan(problem, planned, "left out by VROOM")


# --- the run -------------------------------------------------------------------------------------------------


def describe(problem: Problem) -> dict[str, Any]:
    return {
        "jobs": len(problem.jobs),
        "technicians": len(problem.technicians),
        "shifts": len(problem.shifts),
        "locations": len(problem.locations),
        "jobs_by_priority": {p: sum(1 for j in problem.jobs if j.priority == p) for p in (3, 2, 1, 0)},
        "work_hours": sum(j.duration for j in problem.jobs) / 3600,
        "shift_hours": sum(s.end - s.start - sum(b.duration for b in s.breaks) for _, s in problem.shifts)
        / 3600,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    ensure_peers_venv()
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    records = []
    with tempfile.TemporaryDirectory(prefix="field-service-") as name:
        scratch = Path(name)
        for jobs in args.sizes:
            problem = field_service_problem(jobs, seed=args.seed)
            matrix = build_matrix(problem)
            outcomes = []
            for solver in (run_fieldwork, run_vroom):
                load = os.getloadavg()[0]
                outcome = solver(problem, matrix, jobs, args, scratch)
                outcome.extra["load_before"] = load
                outcomes.append(outcome)
                print(f"{jobs} jobs, {outcome.solver}: done", file=sys.stderr)
            records.append(
                {"size": jobs, "instance": describe(problem), "results": [asdict(o) for o in outcomes]}
            )
    vroom_version = next(
        (r["extra"]["version"] for rec in records for r in rec["results"] if "version" in r["extra"]), None
    )
    return {
        "command": " ".join([".venv/bin/python", "bench/field_service.py", *sys.argv[1:]]),
        "started": started,
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "time_limit": args.time_limit,
        "seed": args.seed,
        "machine": {**machine(), "platform": platform.platform()},
        "versions": {
            "ortools": importlib.metadata.version("ortools"),
            "numpy": np.__version__,
            "msgspec": importlib.metadata.version("msgspec"),
            "pyvroom": vroom_version,
        },
        "records": records,
    }


# --- reporting -----------------------------------------------------------------------------------------------


def cell(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def size_table(record: dict[str, Any]) -> str:
    instance = record["instance"]
    by_priority = "/".join(str(n) for n in instance["jobs_by_priority"].values())
    head = [
        "solver",
        "jobs assigned",
        "by priority 3/2/1/0",
        "travel time (h)",
        "first plan (s)",
        "final (s)",
        "peak memory (MB)",
        "violations",
    ]
    lines = [
        f"### {record['size']} jobs, {instance['shifts']} shifts (jobs by priority 3/2/1/0: {by_priority})",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    notes = []
    for x in record["results"]:
        name = {"fieldwork": "fieldwork", "vroom": "VROOM"}[x["solver"]]
        if x["error"]:
            lines.append(f"| {name} | failed | | | | | | |")
            notes.append(f"- {name}: {x['error']}")
            continue
        travel_h = x["travel_time_s"] / 3600
        row = [
            name,
            f"{x['assigned']} / {instance['jobs']}",
            "/".join(str(n) for n in x["assigned_by_priority"].values()),
            cell(travel_h),
            cell(x["first_s"], 2),
            cell(x["wall_s"], 2),
            cell(x["peak_mb"], 0),
            str(x["violations"]),
        ]
        lines.append("| " + " | ".join(row) + " |")
        notes += [f"- {name}: {sample}" for sample in x["violation_samples"]]
    return "\n".join(lines + (["", *notes] if notes else []))


def markdown(report: dict[str, Any]) -> str:
    m, v = report["machine"], report["versions"]
    head = (
        f"`{report['command']}`  \n{report['started']} to {report['finished']}, time limit {report['time_limit']:g} s,"
        f" seed {report['seed']}; {m['nproc']} x {m['cpu']}, Python {m['python']}, OR-Tools {v['ortools']},"
        f" pyvroom {v['pyvroom']}, commit {m['commit'][:10]}"
        f"{' (scheduling/ modified)' if m['scheduling_modified'] else ''}"
    )
    loads = [x["extra"]["load_before"] for r in report["records"] for x in r["results"]]
    shares = [x["cpu_s"] / x["wall_s"] for r in report["records"] for x in r["results"] if x["wall_s"]]
    head += (
        f"; 1-minute load average before a solve: at most {max(loads):.2f}; CPU time / wall time of a solve:"
        f" at least {min(shares):.2f} (below 1: it waited for a core)"
    )
    return "\n\n".join([head, *(size_table(r) for r in report["records"])])


def main() -> None:
    if sys.argv[1:2] == [VROOM_WORKER]:
        vroom_worker(Path(sys.argv[2]), float(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=lambda s: [int(n) for n in s.split(",")],
        default=[100, 500, 1000, 2000],
        help="comma-separated job counts (default 100,500,1000,2000)",
    )
    parser.add_argument("--time-limit", type=float, default=10.0, help="seconds per solve (default 10)")
    parser.add_argument("--seed", type=int, default=1, help="the generator's seed (default 1)")
    if sys.argv[1:2] == [FIELDWORK_WORKER]:
        parser.add_argument("worker")
        parser.add_argument("--plan", type=Path, required=True)
        args = parser.parse_args()
        fieldwork_worker(args.sizes[0], args.seed, args.time_limit, args.plan)
        return
    args = parser.parse_args()

    report = run(args)
    print(markdown(report))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"field-service-{stamp}.json"
    path.write_text(json.dumps(report, indent=1) + "\n")
    print(f"\nwritten to {path.relative_to(REPO)}", file=sys.stderr)


if __name__ == "__main__":
    main()
