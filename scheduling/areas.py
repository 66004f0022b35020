"""Splitting a large day into areas that OR-Tools can search one at a time.

OR-Tools cannot take over a starting plan once more than about 60 shifts have breaks (docs/scheduling.md, Known
limits). Technicians are split by where they start, halving along the wider axis until each area holds at most
`max_shifts` shifts; each job goes to the area of the route the construction gave it, or, when it has none, to
the area of the nearest shift that may do it. Each area is then a problem of its own, solved from its part of
the construction, and the plans are joined.
"""

from __future__ import annotations

import msgspec

from scheduling.problem import Job, Problem, Technician
from scheduling.travel import TravelMatrix


def split_technicians(problem: Problem, max_shifts: int) -> list[list[Technician]]:
    def shifts(group: list[Technician]) -> int:
        return sum(len(t.shifts) for t in group)

    def place(t: Technician) -> tuple[float, float]:
        where = problem.locations[t.shifts[0].start_location] if t.shifts else problem.locations[0]
        return where.x, where.y

    pending = [list(problem.technicians)]
    areas = []
    while pending:
        group = pending.pop()
        if shifts(group) <= max_shifts or len(group) == 1:
            areas.append(group)
            continue
        xs, ys = [place(t)[0] for t in group], [place(t)[1] for t in group]
        axis = 0 if max(xs) - min(xs) >= max(ys) - min(ys) else 1
        group.sort(key=lambda t: (place(t)[axis], t.id))
        half = len(group) // 2
        pending += [group[:half], group[half:]]
    return sorted(areas, key=lambda g: g[0].id)


def area_problems(
    problem: Problem,
    matrix: TravelMatrix,
    areas: list[list[Technician]],
    routes: list[list[int]],
    able: list[set[int]],
) -> list[Problem]:
    """One problem per area. `routes` and `able` are per shift in `problem.shifts` order, as the model has them."""
    shift_area = {}
    for v, (technician, _) in enumerate(problem.shifts):
        shift_area[v] = next(a for a, group in enumerate(areas) if technician in group)
    job_area: dict[int, int] = {}
    for v, route in enumerate(routes):
        for j in route:
            job_area[j] = shift_area[v]
    starts = [s.start_location for _, s in problem.shifts]
    for j, job in enumerate(problem.jobs):
        if j in job_area or not able[j]:
            continue
        nearest = min(able[j], key=lambda v: (matrix.time_of(starts[v], job.location), v))
        job_area[j] = shift_area[nearest]
    out = []
    for a, group in enumerate(areas):
        names = {t.id for t in group}
        jobs = [_within(job, names) for j, job in enumerate(problem.jobs) if job_area.get(j) == a]
        out.append(compact(problem, group, jobs))
    return out


def compact(problem: Problem, technicians: list[Technician], jobs: list[Job]) -> Problem:
    """The area's problem over only the places it uses, so its travel matrix is the area's size."""
    used = sorted(
        {j.location for j in jobs}
        | {place for t in technicians for s in t.shifts for place in (s.start_location, s.end_location)}
    )
    index = {old: new for new, old in enumerate(used)}
    return msgspec.structs.replace(
        problem,
        locations=tuple(problem.locations[i] for i in used),
        technicians=tuple(
            msgspec.structs.replace(
                t,
                shifts=tuple(
                    msgspec.structs.replace(
                        s, start_location=index[s.start_location], end_location=index[s.end_location]
                    )
                    for s in t.shifts
                ),
            )
            for t in technicians
        ),
        jobs=tuple(msgspec.structs.replace(j, location=index[j.location]) for j in jobs),
    )


def _within(job: Job, names: set[str]) -> Job:
    """The job as its area sees it: references to technicians elsewhere dropped (a required technician is always
    in the job's area, since only they may do it)."""
    return msgspec.structs.replace(
        job,
        required_technicians=tuple(t for t in job.required_technicians if t in names),
        excluded_technicians=tuple(t for t in job.excluded_technicians if t in names),
        preferred_technicians=tuple(t for t in job.preferred_technicians if t in names),
    )
