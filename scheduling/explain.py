"""Why a job was left out, in words a dispatcher can act on, found by checking the job against every shift."""

from __future__ import annotations

from scheduling.problem import Job, Problem
from scheduling.travel import TravelMatrix
from scheduling.validate import allowed, holds_skills


def explain_unassigned(problem: Problem, matrix: TravelMatrix, job: Job) -> tuple[str, ...]:
    shifts = problem.shifts
    if not shifts:
        return ("no technician has a shift in the planning horizon",)
    skilled = [(t, s) for t, s in shifts if holds_skills(t, job)]
    if not skilled:
        needs = ", ".join(f"{n.skill} (level {n.level})" for n in job.skills)
        return (f"no technician holds every skill the job needs: {needs}",)
    permitted = [(t, s) for t, s in skilled if allowed(t, job)]
    if not permitted:
        return ("every skilled technician is excluded from this job, or is not the one it requires",)
    reachable = []
    for _, shift in permitted:
        arrive = shift.start + matrix.time_of(shift.start_location, job.location)
        latest_start = shift.end - job.duration - matrix.time_of(job.location, shift.end_location)
        windows = job.windows or ()
        if latest_start < arrive:
            continue
        if not windows or any(w.end >= arrive and w.start <= latest_start for w in windows):
            reachable.append(shift)
    if not reachable:
        return (
            "no skilled technician can reach the job inside one of its windows and be back by the end of the shift",
        )
    if job.demand and all(s.capacity is not None and s.capacity < job.demand for s in reachable):
        return ("the job's load exceeds the capacity of every technician who could do it",)
    return (
        "the shifts of the technicians who could do it are taken by other work "
        "(higher priority, or work that fits better); widen its windows or add a shift",
    )
