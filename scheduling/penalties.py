"""Medium: what leaving a job out costs. Always more than any route could save, more the more important the job
and the nearer its SLA deadline, and most for work already pinned to a technician."""

from __future__ import annotations

from scheduling.problem import Job, Problem

# Above any soft cost a plan can run up: a day of travel for every technician is far below it.
DROP_PENALTY = 10**9
DAY = 86_400


def urgency(job: Job, end_of_horizon: int) -> int:
    """4 when the SLA deadline falls inside the plan (or has passed), 2 within a day after it, else 1."""
    if job.due is None:
        return 1
    if job.due <= end_of_horizon:
        return 4
    return 2 if job.due <= end_of_horizon + DAY else 1


def drop_penalty(job: Job, end_of_horizon: int) -> int:
    pinned = 100 if job.pin is not None else 1
    return int(DROP_PENALTY * (2**job.priority) * urgency(job, end_of_horizon) * pinned)


def end_of_plan(problem: Problem) -> int:
    """The end of the last shift: SLA urgency is measured against it."""
    return max((s.end for _, s in problem.shifts), default=0)
