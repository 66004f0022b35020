"""An independent check of a plan against every hard rule, recomputing times from the problem alone.

It shares nothing with the solver but the problem and the travel matrix, so a solver bug cannot hide here.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from scheduling.plan import Plan, Route
from scheduling.problem import Job, Problem, Shift, Technician
from scheduling.travel import TravelMatrix, build_matrix


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    subject: str
    message: str


def holds_skills(technician: Technician, job: Job) -> bool:
    return all(technician.skills.get(need.skill, 0) >= need.level for need in job.skills)


def allowed(technician: Technician, job: Job) -> bool:
    if job.required_technicians and technician.id not in job.required_technicians:
        return False
    return technician.id not in job.excluded_technicians


def in_some_window(job: Job, start: int) -> bool:
    return not job.windows or any(w.start <= start <= w.end for w in job.windows)


def validate(problem: Problem, plan: Plan, matrix: TravelMatrix | None = None) -> list[Violation]:
    matrix = matrix or build_matrix(problem)
    jobs = {j.id: j for j in problem.jobs}
    shifts = {s.id: (t, s) for t, s in problem.shifts}
    out: list[Violation] = []
    seen: dict[str, str] = {}
    for route in plan.routes:
        if route.shift not in shifts:
            out.append(Violation("unknown", route.shift, "the route names a shift the problem does not have"))
            continue
        technician, shift = shifts[route.shift]
        if technician.id != route.technician:
            out.append(
                Violation("unknown", route.shift, f"shift belongs to {technician.id}, not {route.technician}")
            )
        for stop in route.stops:
            if stop.job not in jobs:
                out.append(Violation("unknown", stop.job, "the plan routes a job the problem does not have"))
            elif stop.job in seen:
                out.append(
                    Violation("once", stop.job, f"visited in {seen[stop.job]} and again in {route.shift}")
                )
            else:
                seen[stop.job] = route.shift
        out.extend(_check_route(route, technician, shift, jobs, matrix, problem.freeze_time))
    listed = {u.job for u in plan.unassigned}
    for job in problem.jobs:
        if job.id not in seen and job.id not in listed:
            out.append(Violation("accounted", job.id, "neither routed nor listed as unassigned"))
        if job.id in seen and job.id in listed:
            out.append(Violation("accounted", job.id, "routed and also listed as unassigned"))
        # Pinned work may be left out (at a high price), never moved to another shift.
        if job.pin is not None and job.id in seen and seen[job.id] != job.pin.shift:
            out.append(
                Violation("pinned", job.id, f"pinned to {job.pin.shift} but planned in {seen[job.id]}")
            )
    out.extend(_check_pin_sequences(plan, jobs))
    return out


def _check_pin_sequences(plan: Plan, jobs: dict[str, Job]) -> list[Violation]:
    out = []
    for route in plan.routes:
        sequences = [
            (pin.sequence, stop.job)
            for stop in route.stops
            if stop.job in jobs and (pin := jobs[stop.job].pin) is not None and pin.shift == route.shift
        ]
        for (a, first), (b, then) in itertools.pairwise(sequences):
            if b < a:
                out.append(
                    Violation("pinned", then, f"pinned at sequence {b} but visited after {first} ({a})")
                )
    return out


def _check_route(
    route: Route,
    technician: Technician,
    shift: Shift,
    jobs: dict[str, Job],
    matrix: TravelMatrix,
    freeze_time: int | None,
) -> list[Violation]:
    out: list[Violation] = []
    known = [s for s in route.stops if s.job in jobs]
    breaks = sorted(route.breaks, key=lambda b: b.start)
    out.extend(_check_breaks(route, shift))
    here, free_at = shift.start_location, shift.start
    load = travel = 0
    if route.start < shift.start:
        out.append(
            Violation("shift", route.shift, f"starts at {route.start}, before its shift ({shift.start})")
        )
    for stop in known:
        job = jobs[stop.job]
        subject = f"{stop.job}@{route.shift}"
        if not holds_skills(technician, job):
            out.append(Violation("skills", subject, f"{technician.id} lacks a skill the job needs"))
        if not allowed(technician, job):
            out.append(
                Violation("technician", subject, f"{technician.id} is excluded or not the required one")
            )
        leg = matrix.time_of(here, job.location)
        paused = sum(b.end - b.start for b in breaks if free_at <= b.start and b.end <= stop.start)
        earliest = free_at + leg + paused
        if stop.start < earliest:
            out.append(
                Violation("travel", subject, f"starts at {stop.start}, cannot arrive before {earliest}")
            )
        frozen = job.pin.start if job.pin is not None else None
        if frozen is not None:
            if stop.start != frozen:
                out.append(Violation("frozen", subject, f"starts at {stop.start}, frozen at {frozen}"))
        else:
            if not in_some_window(job, stop.start):
                out.append(
                    Violation("window", subject, f"starts at {stop.start}, outside every window of the job")
                )
            if freeze_time is not None and stop.start < freeze_time:
                out.append(
                    Violation(
                        "freeze", subject, f"starts at {stop.start}, before the freeze at {freeze_time}"
                    )
                )
        if stop.end != stop.start + job.duration:
            out.append(Violation("duration", subject, f"ends at {stop.end}, not start + {job.duration}"))
        for b in breaks:
            if b.start < stop.end and stop.start < b.end:
                out.append(Violation("break", subject, f"the visit overlaps the break at {b.start}"))
        load += job.demand
        travel += leg
        here, free_at = job.location, stop.end
    back = matrix.time_of(here, shift.end_location)
    paused = sum(b.end - b.start for b in breaks if free_at <= b.start)
    if free_at + back + paused > shift.end + shift.overtime:
        out.append(
            Violation(
                "shift",
                route.shift,
                f"returns at {free_at + back + paused}, after its shift and overtime ({shift.end + shift.overtime})",
            )
        )
    travel += back
    if shift.capacity is not None and load > shift.capacity:
        out.append(Violation("capacity", route.shift, f"load {load} exceeds capacity {shift.capacity}"))
    if shift.max_travel is not None and travel > shift.max_travel:
        out.append(Violation("max_travel", route.shift, f"travel {travel} exceeds {shift.max_travel}"))
    return out


def _check_breaks(route: Route, shift: Shift) -> list[Violation]:
    out: list[Violation] = []
    taken = sorted(route.breaks, key=lambda b: b.start)
    if len(taken) != len(shift.breaks):
        return [
            Violation("break", route.shift, f"takes {len(taken)} breaks, the shift has {len(shift.breaks)}")
        ]
    for b, rule in zip(taken, sorted(shift.breaks, key=lambda b: b.earliest_start), strict=True):
        if b.start < rule.earliest_start or b.end > rule.latest_end or b.end - b.start < rule.duration:
            out.append(Violation("break", route.shift, f"break at {b.start}-{b.end} breaks its rule"))
    return out


def route_distance(route: Route, shift: Shift, jobs: dict[str, Job], matrix: TravelMatrix) -> float:
    here, total = shift.start_location, 0.0
    for stop in route.stops:
        location = jobs[stop.job].location
        total += matrix.exact_of(here, location)
        here = location
    return total + matrix.exact_of(here, shift.end_location) if route.stops else 0.0
