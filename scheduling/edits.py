"""A dispatcher's changes to a plan: move a job (to another technician or position), take it out, pin it.

Each edit gives a new plan timed by the same timeline as the construction, or is refused with the hard rules it
would break, named as the validator names them, so the dispatcher sees why.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from scheduling.plan import Plan
from scheduling.problem import Job, Pin, Problem, Technician
from scheduling.solver import plan_with_routes, retime_changed, sequences_of
from scheduling.timeline import close, open_cursor, visit
from scheduling.travel import TravelMatrix, build_matrix
from scheduling.validate import Violation, allowed, holds_skills


class EditRefused(Exception):
    def __init__(self, violations: list[Violation]) -> None:
        super().__init__("; ".join(v.message for v in violations))
        self.violations = violations


@dataclass(frozen=True, slots=True)
class Move:
    """Put `job` on `shift` at `position` (0 first; None: last); `pin` keeps it there when re-optimizing."""

    job: str
    shift: str
    position: int | None = None
    pin: bool = False


@dataclass(frozen=True, slots=True)
class Unassign:
    job: str


def apply_edit(
    problem: Problem, plan: Plan, edit: Move | Unassign, matrix: TravelMatrix | None = None
) -> Plan:
    """The plan after the edit, re-timed; EditRefused naming the broken rules if it breaks any."""
    matrix = matrix or build_matrix(problem)
    index = {j.id: i for i, j in enumerate(problem.jobs)}
    if edit.job not in index:
        raise EditRefused([Violation("unknown", edit.job, "the plan has no such job")])
    routes = sequences_of(problem, plan.routes)
    j = index[edit.job]
    job = problem.jobs[j]
    for route in routes:
        if j in route:
            route.remove(j)
    if isinstance(edit, Move):
        shifts = [s.id for _, s in problem.shifts]
        if edit.shift not in shifts:
            raise EditRefused([Violation("unknown", edit.shift, "the plan has no such shift")])
        v = shifts.index(edit.shift)
        technician, _ = problem.shifts[v]
        refused = _assignment_rules(job, technician, edit.shift)
        if refused:
            raise EditRefused(refused)
        position = len(routes[v]) if edit.position is None else max(0, min(edit.position, len(routes[v])))
        routes[v].insert(position, j)
        timing = _timing_rule(problem, matrix, routes[v], v)
        if timing is not None:
            raise EditRefused([timing])
    elif job.pin is not None:
        raise EditRefused(
            [Violation("pinned", job.id, "the job is pinned to its technician; unpin it first")]
        )
    return plan_with_routes(problem, matrix, retime_changed(problem, matrix, plan.routes, routes))


def pin_job(problem: Problem, plan: Plan, job_id: str) -> Problem:
    """The problem with the job pinned where the plan has it, so re-optimising keeps it there and in order."""
    where = {s.job: (r.shift, k) for r in plan.routes for k, s in enumerate(r.stops)}
    if job_id not in where:
        raise EditRefused([Violation("unknown", job_id, "only a job the plan routes can be pinned")])
    shift, sequence = where[job_id]
    jobs = tuple(
        msgspec.structs.replace(j, pin=Pin(shift=shift, sequence=sequence)) if j.id == job_id else j
        for j in problem.jobs
    )
    return msgspec.structs.replace(problem, jobs=jobs)


def _assignment_rules(job: Job, technician: Technician, shift_id: str) -> list[Violation]:
    out = []
    if not holds_skills(technician, job):
        needs = ", ".join(
            f"{n.skill} (level {n.level})" for n in job.skills if technician.skills.get(n.skill, 0) < n.level
        )
        out.append(Violation("skills", job.id, f"the technician lacks the skills the job needs: {needs}"))
    if not allowed(technician, job):
        out.append(Violation("technician", job.id, "the job excludes this technician or requires another"))
    if job.pin is not None and job.pin.shift != shift_id:
        out.append(Violation("pinned", job.id, "the job is pinned to another technician; unpin it first"))
    return out


def _timing_rule(problem: Problem, matrix: TravelMatrix, route: list[int], v: int) -> Violation | None:
    """The first visit of the route that cannot be made in time, or the way home, named; None if all fit."""
    _, shift = problem.shifts[v]
    cursor = open_cursor(shift)
    not_before = problem.freeze_time or 0
    for j in route:
        job = problem.jobs[j]
        step = visit(cursor, job, shift, matrix, not_before=not_before)
        if step is None:
            return Violation(
                "window",
                job.id,
                f"job {job.id} cannot start inside one of its windows on this route "
                "(with the travel, breaks and work before it)",
            )
        cursor = step[0]
    if close(cursor, shift, matrix) is None:
        return Violation(
            "shift",
            shift.id,
            "the technician could not take the breaks and be back before the end of the shift",
        )
    return None
