"""Why a job was left out, in words a dispatcher can act on, found by checking the job against every shift.

The job is tried alone on each shift that may take it, on the same timeline the construction uses (windows,
breaks, freeze time, frozen start, capacity, maximum travel, the way home). If it fits nowhere even alone, the
first rule that stops it is named; if it fits alone somewhere, other work took the room.
"""

from __future__ import annotations

from scheduling.problem import Job, Problem, Shift
from scheduling.timeline import time_route
from scheduling.travel import TravelMatrix
from scheduling.validate import allowed, holds_skills

OTHER_WORK = (
    "the shifts of the technicians who could do it are taken by other work "
    "(higher priority, or work that fits better); widen its windows or add a shift"
)


def explain_unassigned(problem: Problem, matrix: TravelMatrix, job: Job) -> tuple[str, ...]:
    shifts = problem.shifts
    if not shifts:
        return ("no technician has a shift in the planning horizon",)
    skilled = [(t, s) for t, s in shifts if holds_skills(t, job)]
    if not skilled:
        needs = ", ".join(f"{n.skill} (level {n.level})" for n in job.skills)
        return (f"no technician holds every skill the job needs: {needs}",)
    permitted = [s for t, s in skilled if allowed(t, job)]
    if not permitted:
        return ("every skilled technician is excluded from this job, or is not the one it requires",)
    if job.pin is not None:
        permitted = [s for s in permitted if s.id == job.pin.shift]
        if not permitted:
            return (f"it is pinned to shift {job.pin.shift}, whose technician may not do it; unpin it",)
    freeze = problem.freeze_time or 0
    if any(time_route([job], shift, matrix, not_before=freeze) is not None for shift in permitted):
        return (OTHER_WORK,)
    return (_why_not_alone(problem, matrix, job, permitted),)


def _why_not_alone(problem: Problem, matrix: TravelMatrix, job: Job, shifts: list[Shift]) -> str:
    freeze = problem.freeze_time
    if job.pin is not None and job.pin.start is not None:
        return f"its frozen start at {job.pin.start} cannot be kept: the technician cannot be there by then"
    if freeze is not None and job.windows and all(w.end < freeze for w in job.windows):
        return "every window of the job closes before the re-planning freeze time; offer it a new window"
    if job.demand and all(s.capacity is not None and s.capacity < job.demand for s in shifts):
        return "the job's load exceeds the capacity of every technician who could do it"
    if all(_over_max_travel(matrix, job, s) for s in shifts):
        return "the round trip to the job exceeds the maximum travel of every shift that could take it"
    reachable = [s for s in shifts if _window_reachable(matrix, job, s)]
    if not reachable:
        return "no skilled technician can reach the job inside one of its windows and be back by the end of the shift"
    return "the job does not fit around the breaks of the shifts that could take it"


def _over_max_travel(matrix: TravelMatrix, job: Job, shift: Shift) -> bool:
    if shift.max_travel is None:
        return False
    round_trip = matrix.time_of(shift.start_location, job.location) + matrix.time_of(
        job.location, shift.end_location
    )
    return round_trip > shift.max_travel


def _window_reachable(matrix: TravelMatrix, job: Job, shift: Shift) -> bool:
    arrive = shift.start + matrix.time_of(shift.start_location, job.location)
    latest_start = shift.end - job.duration - matrix.time_of(job.location, shift.end_location)
    if latest_start < arrive:
        return False
    return not job.windows or any(w.end >= arrive and w.start <= latest_start for w in job.windows)
