"""Re-planning during the day: the problem that remains at `now`, given the plan the technicians are working to.

Finished visits leave the problem. A visit under way stays with its technician, frozen at its start, and the
technician's day restarts there. Visits that start before `freeze_until` stay as they were (customers have been
told). Every other technician starts again from where they are (`positions`, a location index per shift), or
else from their last finished visit, at `now`. Breaks already taken, or whose time has passed, are dropped. Then
`solve(replan_problem(...), hint=previous)` re-optimises the rest, starting from the previous plan.
"""

from __future__ import annotations

import msgspec

from scheduling.plan import Plan, Route
from scheduling.problem import Job, Pin, Problem, Shift


def replan_problem(
    problem: Problem,
    previous: Plan,
    *,
    now: int,
    positions: dict[str, int] | None = None,
    freeze_until: int | None = None,
) -> Problem:
    positions = positions or {}
    freeze_until = max(now, freeze_until or now)
    jobs = {j.id: j for j in problem.jobs}
    routes = {r.shift: r for r in previous.routes}
    done: set[str] = set()
    pins: dict[str, Pin] = {}
    for route in previous.routes:
        for sequence, stop in enumerate(route.stops):
            if stop.end <= now:
                done.add(stop.job)
            elif stop.start <= freeze_until:
                pins[stop.job] = Pin(shift=route.shift, sequence=sequence, start=stop.start)
    technicians = tuple(
        msgspec.structs.replace(
            t,
            shifts=tuple(
                s
                for shift in t.shifts
                if (s := _remaining_shift(shift, routes.get(shift.id), jobs, now, positions.get(shift.id)))
                is not None
            ),
        )
        for t in problem.technicians
    )
    remaining_shifts = {s.id for t in technicians for s in t.shifts}
    remaining: list[Job] = []
    for job in problem.jobs:
        if job.id in done:
            continue
        pin = pins.get(job.id, job.pin)
        if pin is not None and pin.shift not in remaining_shifts:
            pin = None  # the shift is over: the job goes back to the pool
        remaining.append(msgspec.structs.replace(job, pin=pin))
    return msgspec.structs.replace(
        problem,
        technicians=technicians,
        jobs=tuple(remaining),
        freeze_time=now,
    )


def _remaining_shift(
    shift: Shift, route: Route | None, jobs: dict[str, Job], now: int, position: int | None
) -> Shift | None:
    if now >= shift.end + shift.overtime:
        return None
    location, start = shift.start_location, max(shift.start, now)
    if route is not None:
        under_way = next((s for s in route.stops if s.start <= now < s.end), None)
        finished = [s for s in route.stops if s.end <= now]
        if under_way is not None:
            location, start = jobs[under_way.job].location, under_way.start
        elif position is not None:
            location = position
        elif finished:
            location, start = jobs[finished[-1].job].location, max(now, finished[-1].end)
        taken = {(b.start, b.end) for b in (route.breaks if route else ()) if b.end <= now}
    else:
        taken = set()
        if position is not None:
            location = position
    if start <= shift.start and location == shift.start_location:
        return shift
    breaks = tuple(
        b
        for k, b in enumerate(sorted(shift.breaks, key=lambda b: b.earliest_start))
        if b.latest_end - b.duration >= start and not _was_taken(k, shift, taken)
    )
    return msgspec.structs.replace(
        shift,
        start=start,
        start_location=location,
        breaks=tuple(msgspec.structs.replace(b, earliest_start=max(b.earliest_start, start)) for b in breaks),
    )


def _was_taken(k: int, shift: Shift, taken: set[tuple[int, int]]) -> bool:
    rule = sorted(shift.breaks, key=lambda b: b.earliest_start)[k]
    return any(rule.earliest_start <= s and e <= rule.latest_end for s, e in taken)
