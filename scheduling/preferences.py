"""Soft: the cost of a given technician doing a given job, beyond travel: not the one the customer preferred,
or more qualified than the job needs (a senior engineer's day is better spent on work only they can do)."""

from __future__ import annotations

from scheduling.problem import Job, Problem, Technician


def over_qualification(technician: Technician, job: Job) -> int:
    """Skill levels held above what the job needs, summed over the skills it needs."""
    return sum(max(0, technician.skills.get(need.skill, 0) - need.level) for need in job.skills)


def preference_cost(problem: Problem, technician: Technician, job: Job) -> int:
    w = problem.weights
    cost = w.over_qualification * over_qualification(technician, job)
    if job.preferred_technicians and technician.id not in job.preferred_technicians:
        cost += w.preferred_technician
    return cost
