"""Solomon VRPTW benchmark of fieldwork's scheduler, with PyVRP and VROOM side by side (issue 3).

For each instance (all 56 by default) it runs `scheduling.solver.solve` at `--time-limit` seconds, checks the
plan with `scheduling.validate.validate`, and reports the distance, the gap to the best-known distance-only
solution, vehicles, unserved customers, time to the first solution and wall time. With `--peers` it then runs
PyVRP and VROOM on the same instance with the same time limit, one after the other (never two solves at
once: the machine has two cores), as subprocesses of bench/peers.py in their own virtualenv,
bench/.venv-peers, which this script creates on first use; they never become dependencies of the service.
Their routes are checked here with the same validator.

    .venv/bin/python bench/solomon.py                                   # 56 instances, 5 s, fieldwork only
    .venv/bin/python bench/solomon.py --peers                           # ... and PyVRP and VROOM
    .venv/bin/python bench/solomon.py --peers --time-limit 30 --instances C101,R101,RC101

All three solve the same model: the file's fleet with no cost per vehicle (vehicles are free), capacity,
service times and windows as given, and the Euclidean distance times SCALE, rounded, as both travel time and
cost. All three are scored the same way: the total exact (unrounded) Euclidean length of their routes on the
file's coordinates. Mean gaps count only instances where every customer was served by a valid plan. Since the
rounded matrix can be up to 0.005 of a unit per arc shorter than the truth, every solver's routes are also
timed with exact travel times, and any visit that would then be late is noted (it still counts).

It prints markdown tables and writes the records, the machine and the versions to bench/results/ (gitignored).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import importlib.metadata
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script from anywhere: the service's packages live at the top

from scheduling.plan import Plan, Route, Stop, Totals, Unassigned  # noqa: E402
from scheduling.problem import Problem  # noqa: E402
from scheduling.solomon import SCALE, load_solomon  # noqa: E402
from scheduling.solver import DROP_PENALTY, solve  # noqa: E402
from scheduling.travel import TravelMatrix, build_matrix  # noqa: E402
from scheduling.validate import validate  # noqa: E402

BENCH = REPO / "bench"
RESULTS_DIR = BENCH / "results"
PEERS_VENV = BENCH / ".venv-peers"
PEERS_PYTHON = PEERS_VENV / "bin" / "python"
PEERS_REQUIREMENTS = BENCH / "requirements-peers.txt"
DATA = REPO.parent / "shared" / "data" / "vrptw"
SOLVERS = ("fieldwork", "pyvrp", "vroom")
NAMES = {"fieldwork": "fieldwork", "pyvrp": "PyVRP", "vroom": "VROOM"}
PACKAGES = {"pyvrp": "pyvrp", "vroom": "pyvroom"}
CLASSES = ("C1", "C2", "R1", "R2", "RC1", "RC2")
TARGETS = {"gap_5s": 2.0, "gap_30s": 0.8, "first_ms": 1000}


@dataclass
class Outcome:
    """One solver on one instance. `distance` is in the file's units, exact Euclidean."""

    solver: str
    distance: float | None = None
    gap: float | None = None
    vehicles: int | None = None
    unserved: int | None = None
    first_ms: int | None = None  # fieldwork only: the first solution OR-Tools reports (may drop customers)
    first_complete_ms: int | None = None  # fieldwork only: the first solution that serves every customer
    wall_s: float | None = None
    cpu_s: float | None = None
    violations: list[str] = field(default_factory=list)
    error: str | None = None
    # The routes as customer numbers, and how late their latest visit (or return) would be, in the file's
    # units, with exact travel times instead of the rounded matrix all three solvers plan on (0: on time).
    routes: list[list[int]] = field(default_factory=list)
    exact_late: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Every customer served by a plan that passed validation: the only results that enter mean gaps."""
        return self.error is None and not self.violations and self.unserved == 0


def instance_class(name: str) -> str:
    match = re.fullmatch(r"(RC|R|C)(\d)\d\d", name)
    if match is None:
        raise ValueError(f"not a Solomon instance name: {name}")
    return match[1] + match[2]


def read_best_known(path: Path) -> dict[str, tuple[float, int]]:
    """Best-known distance-only solutions (distance, vehicles) by instance."""
    with path.open(newline="") as f:
        return {
            row["instance"]: (float(row["distance"]), int(row["vehicles"]))
            for row in csv.DictReader(f)
            if row["objective"].startswith("distance-only")
        }


def gap(distance: float, best: float) -> float:
    return 100.0 * (distance - best) / best


# --- fieldwork ---------------------------------------------------------------------------------------------


def run_fieldwork(problem: Problem, matrix: TravelMatrix, time_limit: float, seed: int) -> Outcome:
    complete_at: list[float] = []

    def on_progress(progress: dict[str, float]) -> None:
        # Dropping a customer costs DROP_PENALTY or more, more than any set of routes here.
        if not complete_at and progress["objective"] < DROP_PENALTY:
            complete_at.append(progress["elapsed"])

    cpu, started = time.process_time(), time.perf_counter()
    plan = solve(problem, time_limit=time_limit, seed=seed, on_progress=on_progress)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    violations = [f"{v.rule} {v.subject}: {v.message}" for v in validate(problem, plan, matrix)]
    if plan.status != "feasible":
        violations.append(f"status {plan.status}")
    routes = [[int(stop.job) for stop in route.stops] for route in plan.routes]
    return Outcome(
        solver="fieldwork",
        distance=plan.totals.distance / SCALE,
        vehicles=plan.totals.vehicles_used,
        unserved=plan.totals.unassigned,
        first_ms=plan.first_solution_ms,
        first_complete_ms=round(complete_at[0] * 1000) if complete_at else None,
        wall_s=wall,
        cpu_s=cpu,
        violations=violations,
        routes=routes,
        exact_late=exact_lateness(problem, matrix, routes),
    )


# --- peers ---------------------------------------------------------------------------------------------------


def ensure_peers_venv() -> None:
    """Create bench/.venv-peers and install pyvrp and pyvroom into it, unless that is already done."""
    if not PEERS_PYTHON.exists():
        print(f"creating {PEERS_VENV.relative_to(REPO)} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
    probe = subprocess.run([str(PEERS_PYTHON), "-c", "import pyvrp, vroom"], capture_output=True)
    if probe.returncode != 0:
        print(f"installing {PEERS_REQUIREMENTS.relative_to(REPO)} ...", file=sys.stderr)
        subprocess.run(
            [str(PEERS_PYTHON), "-m", "pip", "install", "--quiet", "-r", str(PEERS_REQUIREMENTS)], check=True
        )


def run_peer(
    solver: str, path: Path, problem: Problem, matrix: TravelMatrix, args: argparse.Namespace
) -> Outcome:
    command = [
        str(PEERS_PYTHON),
        str(BENCH / "peers.py"),
        solver,
        str(path),
        "--time-limit",
        str(args.time_limit),
        "--seed",
        str(args.seed),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=3 * args.time_limit + 120)
    except subprocess.TimeoutExpired:
        return Outcome(solver=solver, error=f"no answer within {3 * args.time_limit + 120:.0f} s")
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-3:]
        return Outcome(solver=solver, error=f"exit {done.returncode}: {' | '.join(tail)}")
    answer = json.loads(done.stdout)
    routes: list[list[int]] = answer["routes"]
    plan = plan_from_routes(problem, matrix, routes)
    violations = [f"{v.rule} {v.subject}: {v.message}" for v in validate(problem, plan, matrix)]
    distance = plan.totals.distance / SCALE
    if abs(distance - answer["distance"]) > 1e-6 * max(1.0, distance):
        violations.append(f"reported distance {answer['distance']:.4f}, routes measure {distance:.4f}")
    if not answer.get("feasible", True):
        violations.append("the solver itself calls its best solution infeasible")
    return Outcome(
        solver=solver,
        distance=distance,
        vehicles=plan.totals.vehicles_used,
        unserved=plan.totals.unassigned,
        wall_s=answer["wall_s"],
        cpu_s=answer["cpu_s"],
        violations=violations,
        routes=routes,
        exact_late=exact_lateness(problem, matrix, routes),
        extra={
            k: v
            for k, v in answer.items()
            if k not in {"routes", "distance", "vehicles", "served", "wall_s", "cpu_s"}
        },
    )


def plan_from_routes(problem: Problem, matrix: TravelMatrix, routes: list[list[int]]) -> Plan:
    """A fieldwork Plan of a peer's routes (customer numbers), each visit at its earliest feasible start, so
    that `validate` judges the peers by the same rules, on the same matrix, as fieldwork's own plans."""
    jobs = {j.id: j for j in problem.jobs}
    shifts = problem.shifts
    planned: list[Route] = []
    for k, customers in enumerate(routes):
        # A route beyond the file's fleet gets a shift name the problem lacks, which `validate` reports.
        technician, shift = shifts[min(k, len(shifts) - 1)]
        name = shift.id if k < len(shifts) else f"extra-{k + 1}"
        depot = shift.start_location
        here, free_at = depot, shift.start
        stops, distance = [], 0.0
        for number in customers:
            job = jobs[str(number)]
            leg = matrix.time_of(here, job.location)
            arrival = free_at + leg
            start = max(arrival, job.windows[0].start)
            stops.append(
                Stop(
                    job=job.id,
                    arrival=arrival,
                    start=start,
                    end=start + job.duration,
                    travel=leg,
                    waiting=start - arrival,
                )
            )
            distance += matrix.exact_of(here, job.location)
            here, free_at = job.location, start + job.duration
        distance += matrix.exact_of(here, depot)
        planned.append(
            Route(
                technician=technician.id if k < len(shifts) else name,
                shift=name,
                stops=tuple(stops),
                start=shift.start,
                end=free_at + matrix.time_of(here, depot),
                distance=distance,
                travel_time=sum(s.travel for s in stops) + matrix.time_of(here, depot),
            )
        )
    return peer_plan(problem, planned, "not routed")


def peer_plan(problem: Problem, planned: list[Route], reason: str) -> Plan:
    """A peer's routes as a fieldwork Plan, every job it left out listed with `reason`, for the validator."""
    served = {s.job for r in planned for s in r.stops}
    unassigned = tuple(Unassigned(job=j.id, reasons=(reason,)) for j in problem.jobs if j.id not in served)
    totals = Totals(
        distance=sum(r.distance for r in planned),
        travel_time=sum(r.travel_time for r in planned),
        waiting_time=sum(s.waiting for r in planned for s in r.stops),
        vehicles_used=len(planned),
        assigned=len(served),
        unassigned=len(unassigned),
    )
    return Plan(routes=tuple(planned), unassigned=unassigned, totals=totals)


def exact_lateness(problem: Problem, matrix: TravelMatrix, routes: list[list[int]]) -> float:
    """The worst lateness of the routes, in the file's units, when travel takes the exact Euclidean time."""
    jobs = {j.id: j for j in problem.jobs}
    shift = problem.shifts[0][1]  # every vehicle of a Solomon instance has the same depot and hours
    late = 0.0
    for customers in routes:
        here, clock = shift.start_location, float(shift.start)
        for number in customers:
            job = jobs[str(number)]
            clock = max(clock + matrix.exact_of(here, job.location), job.windows[0].start)
            late = max(late, clock - job.windows[-1].end)
            here, clock = job.location, clock + job.duration
        late = max(late, clock + matrix.exact_of(here, shift.end_location) - shift.end)
    return late / SCALE if late > 1e-6 else 0.0  # below that, floating-point noise


# --- the run --------------------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next(
        (ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if ln.startswith("Model name")), "?"
    )
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "scheduling"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "ortools": importlib.metadata.version("ortools"),
        "commit": commit,
        "scheduling_modified": bool(dirty),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    best_known = read_best_known(args.bks)
    paths = sorted(args.data.glob("*.txt"), key=lambda p: (instance_class(p.stem), p.stem))
    if args.instances:
        wanted = [name.strip().upper() for name in args.instances.split(",") if name.strip()]
        missing = sorted(set(wanted) - {p.stem for p in paths})
        if missing:
            raise SystemExit(f"unknown instances: {', '.join(missing)}")
        paths = [p for p in paths if p.stem in wanted]
    solvers = SOLVERS if args.peers else SOLVERS[:1]
    if args.peers:
        ensure_peers_venv()
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    records = []
    for i, path in enumerate(paths, 1):
        name = path.stem
        problem = load_solomon(path)
        matrix = build_matrix(problem)
        best, best_vehicles = best_known[name]
        load = os.getloadavg()[0]
        outcomes = [run_fieldwork(problem, matrix, args.time_limit, args.seed)]
        for solver in solvers[1:]:
            outcomes.append(run_peer(solver, path, problem, matrix, args))
        for o in outcomes:
            if o.distance is not None:
                o.gap = gap(o.distance, best)
        records.append(
            {
                "instance": name,
                "class": instance_class(name),
                "bks": best,
                "bks_vehicles": best_vehicles,
                "load_before": load,
                "results": {o.solver: asdict(o) | {"complete": o.complete} for o in outcomes},
            }
        )
        line = "  ".join(
            f"{NAMES[o.solver]} {o.gap:+.2f}%" if o.gap is not None else f"{NAMES[o.solver]} failed"
            for o in outcomes
        )
        print(f"[{i}/{len(paths)}] {name}: {line}", file=sys.stderr, flush=True)
    return {
        "benchmark": "solomon",
        "command": " ".join([".venv/bin/python", "bench/solomon.py", *sys.argv[1:]]),
        "time_limit": args.time_limit,
        "seed": args.seed,
        "solvers": list(solvers),
        "started": started,
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "peer_versions": peer_versions(records),
        "records": records,
        "summary": summarise(records, solvers),
    }


def peer_versions(records: list[dict[str, Any]]) -> dict[str, str]:
    versions = {}
    for record in records:
        for solver, result in record["results"].items():
            if "version" in result["extra"]:
                versions[PACKAGES[solver]] = result["extra"]["version"]
    return versions


def summarise(records: list[dict[str, Any]], solvers: tuple[str, ...]) -> dict[str, Any]:
    groups = {c: [r for r in records if r["class"] == c] for c in CLASSES}
    groups = {c: rs for c, rs in groups.items() if rs}
    groups["all"] = records
    summary: dict[str, Any] = {}
    for group, rows in groups.items():
        summary[group] = {"instances": len(rows)}
        for solver in solvers:
            results = [r["results"][solver] for r in rows]
            complete = [x for x in results if x["complete"]]
            summary[group][solver] = {
                "complete": len(complete),
                "mean_gap": statistics.fmean(x["gap"] for x in complete) if complete else None,
                "max_gap": max(x["gap"] for x in complete) if complete else None,
                "vehicles": sum(x["vehicles"] or 0 for x in results),
                "unserved": sum(x["unserved"] or 0 for x in results),
                "invalid": sum(1 for x in results if x["violations"] or x["error"]),
                "max_first_ms": worst(x["first_ms"] for x in results),
                "max_first_complete_ms": worst(x["first_complete_ms"] for x in results),
                "never_complete": sum(
                    1 for x in results if solver == "fieldwork" and x["first_complete_ms"] is None
                ),
                # Below 1 the solver waited for the CPU: something else was running (two cores).
                "cpu_per_wall": sum(x["cpu_s"] or 0 for x in results) / sum(x["wall_s"] or 0 for x in results)
                if any(x["wall_s"] for x in results)
                else None,
            }
        summary[group]["bks_vehicles"] = sum(r["bks_vehicles"] for r in rows)
    return summary


def worst(values: Any) -> int | None:
    return max((v for v in values if v is not None), default=None)


# --- reporting --------------------------------------------------------------------------------------------------


def cell(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{round(value, digits) + 0.0:.{digits}f}"  # no "-0.00"


def instance_table(report: dict[str, Any]) -> str:
    solvers = report["solvers"]
    head = ["instance", "BKS (veh)"]
    for solver in solvers:
        name = NAMES[solver]
        head += [f"{name} distance", "gap %", "veh", "unserved"]
        head += ["first / complete ms", "wall s"] if solver == "fieldwork" else ["wall s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    notes = []
    for record in report["records"]:
        row = [record["instance"], f"{record['bks']:.2f} ({record['bks_vehicles']})"]
        for solver in solvers:
            x = record["results"][solver]
            flag = "" if x["complete"] else " !"
            row += [
                cell(x["distance"]),
                cell(x["gap"]) + flag,
                cell(x["vehicles"], 0),
                cell(x["unserved"], 0),
            ]
            if solver == "fieldwork":
                row.append(f"{cell(x['first_ms'], 0)} / {cell(x['first_complete_ms'], 0)}")
            row.append(cell(x["wall_s"], 1))
            for problem in ([x["error"]] if x["error"] else []) + x["violations"][:3]:
                notes.append(f"- {record['instance']} {NAMES[solver]}: {problem}")
            if x["exact_late"]:
                notes.append(
                    f"- {record['instance']} {NAMES[solver]}: a visit {x['exact_late']:.4f} late with exact,"
                    " unrounded travel times (on time on the rounded matrix; still counted)"
                )
            if len(x["violations"]) > 3:
                notes.append(
                    f"- {record['instance']} {NAMES[solver]}: ... {len(x['violations'])} violations in all"
                )
        lines.append("| " + " | ".join(row) + " |")
    if notes:
        lines += [
            "",
            "Notes (! marks a result left out of the mean gaps: a customer unserved, a failed solve or an"
            " invalid plan):",
            *notes,
        ]
    return "\n".join(lines)


def class_table(report: dict[str, Any]) -> str:
    solvers = report["solvers"]
    head = ["class", "instances"] + [f"{NAMES[s]} mean gap %" for s in solvers]
    head += [f"{NAMES[s]} vehicles" for s in solvers] + [
        "BKS vehicles",
        "fieldwork unserved",
        "fieldwork slowest first / complete ms",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for group, s in report["summary"].items():
        label = "**all**" if group == "all" else group
        row = [label, str(s["instances"])]
        for solver in solvers:
            x = s[solver]
            counted = "" if x["complete"] == s["instances"] else f" ({x['complete']} counted)"
            row.append(cell(x["mean_gap"]) + counted)
        row += [str(s[solver]["vehicles"]) for solver in solvers]
        row += [
            str(s["bks_vehicles"]),
            str(s["fieldwork"]["unserved"]),
            f"{cell(s['fieldwork']['max_first_ms'], 0)} / {cell(s['fieldwork']['max_first_complete_ms'], 0)}",
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def targets(report: dict[str, Any]) -> str:
    overall = report["summary"]["all"]["fieldwork"]
    limit = report["time_limit"]
    lines = []
    for seconds, target in ((5, TARGETS["gap_5s"]), (30, TARGETS["gap_30s"])):
        if limit == seconds and overall["mean_gap"] is not None:
            verdict = "met" if overall["mean_gap"] <= target else "missed"
            lines.append(f"- mean gap ≤ {target} % at {seconds} s: {overall['mean_gap']:.2f} %, {verdict}")
    first, complete = overall["max_first_ms"], overall["max_first_complete_ms"]
    if complete is not None:
        verdict = "met" if complete <= TARGETS["first_ms"] and not overall["never_complete"] else "missed"
        lines.append(
            f"- first feasible plan serving every customer ≤ {TARGETS['first_ms']} ms: slowest {complete} ms"
            f" (first solution of any kind: slowest {first} ms), never on {overall['never_complete']}"
            f" instances, {verdict}"
        )
    verdict = "met" if overall["unserved"] == 0 else "missed"
    lines.append(f"- every customer served: {overall['unserved']} unserved in all, {verdict}")
    lines.append(f"- plans failing validation: {overall['invalid']}")
    shares = ", ".join(
        f"{NAMES[s]} {report['summary']['all'][s]['cpu_per_wall']:.2f}" for s in report["solvers"]
    )
    lines.append(f"- CPU time / wall time (below 1: the solver waited for a core): {shares}")
    loads = [r["load_before"] for r in report["records"]]
    lines.append(
        f"- 1-minute load average before an instance: median {statistics.median(loads):.2f}, max {max(loads):.2f}"
    )
    return "\n".join(lines)


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in {"ortools": m["ortools"], **report["peer_versions"]}.items())
    return "\n\n".join(
        [
            f"`{report['command']}`  \n{report['started']} to {report['finished']}, {m['nproc']} x {m['cpu']}, Python {m['python']}, {versions}, "
            f"commit {m['commit'][:10]}{' (scheduling/ modified)' if m['scheduling_modified'] else ''}",
            instance_table(report),
            class_table(report),
            "fieldwork against the issue's targets:\n" + targets(report),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", help="comma-separated names, e.g. R101,C101 (default: all 56)")
    parser.add_argument("--time-limit", type=float, default=5.0, help="seconds per solve (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--peers", action="store_true", help="also run PyVRP and VROOM (bench/.venv-peers)")
    parser.add_argument("--data", type=Path, default=DATA / "solomon", help="folder of Solomon .txt files")
    parser.add_argument("--bks", type=Path, default=DATA / "solomon-bks.csv", help="best-known solutions")
    args = parser.parse_args()

    report = run(args)
    text = markdown(report)
    print(text)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    base = RESULTS_DIR / f"solomon-{args.time_limit:g}s-{stamp}"
    base.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    base.with_suffix(".md").write_text(text + "\n")
    print(f"\nwritten to {base.relative_to(REPO)}.json and .md", file=sys.stderr)


if __name__ == "__main__":
    main()
