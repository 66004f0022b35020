"""Re-planning during the day, warm starts, and grading appointment slots against a plan."""

from __future__ import annotations

import time

import msgspec

from scheduling.generator import field_service_problem
from scheduling.problem import Break, Job, Location, Pin, Problem, Shift, Technician, Window
from scheduling.replan import replan_problem
from scheduling.slots import grade_slots
from scheduling.solver import solve
from scheduling.validate import validate

HOUR = 3600


def line_problem(jobs: int = 4, *, technicians: int = 1) -> Problem:
    """Jobs 1 km apart along a street, technicians starting at its end; 1 unit = 1 metre = 0.1 s."""
    locations = (Location(x=0, y=0), *tuple(Location(x=1000 * (k + 1), y=0) for k in range(jobs)))
    crew = tuple(
        Technician(
            id=f"t{k}",
            shifts=(Shift(id=f"t{k}/day", start=8 * HOUR, end=17 * HOUR, start_location=0, end_location=0),),
        )
        for k in range(technicians)
    )
    work = tuple(
        Job(id=f"j{k}", location=k + 1, duration=HOUR, windows=(Window(start=8 * HOUR, end=16 * HOUR),))
        for k in range(jobs)
    )
    return Problem(locations=locations, technicians=crew, jobs=work, time_per_distance=0.1)


def test_a_replan_keeps_finished_work_out_and_the_visit_under_way_where_it_is() -> None:
    problem = line_problem(4)
    plan = solve(problem, time_limit=0.5)
    assert plan.totals.assigned == 4
    stops = plan.routes[0].stops
    now = stops[1].start + 60  # the second visit has just begun
    again = replan_problem(problem, plan, now=now)
    assert {j.id for j in again.jobs} == {s.job for s in stops[1:]}
    under_way = next(j for j in again.jobs if j.id == stops[1].job)
    assert under_way.pin == Pin(shift=plan.routes[0].shift, sequence=1, start=stops[1].start)
    new_plan = solve(again, time_limit=0.5, hint=plan)
    assert validate(again, new_plan) == []
    assert new_plan.totals.assigned == 3
    first = new_plan.routes[0].stops[0]
    assert (first.job, first.start) == (stops[1].job, stops[1].start)
    assert all(s.start >= now for s in new_plan.routes[0].stops[1:])


def test_a_technician_restarts_from_where_they_are() -> None:
    problem = line_problem(2)
    plan = solve(problem, time_limit=0.3)
    now = 8 * HOUR + 60
    far = len(problem.locations) - 1
    again = replan_problem(problem, plan, now=now, positions={"t0/day": far})
    shift = again.technicians[0].shifts[0]
    assert (shift.start_location, shift.start) == (far, now)
    new_plan = solve(again, time_limit=0.3)
    assert validate(again, new_plan) == []
    # Starting at the far end, the nearest job comes first.
    assert new_plan.routes[0].stops[0].job == problem.jobs[-1].id


def test_visits_before_the_freeze_stay_as_they_were() -> None:
    problem = line_problem(4)
    plan = solve(problem, time_limit=0.3)
    stops = plan.routes[0].stops
    again = replan_problem(problem, plan, now=8 * HOUR, freeze_until=stops[1].start)
    frozen = {j.id: j.pin.start for j in again.jobs if j.pin is not None and j.pin.start is not None}
    assert frozen == {stops[0].job: stops[0].start, stops[1].job: stops[1].start}
    new_plan = solve(again, time_limit=0.3, hint=plan)
    assert validate(again, new_plan) == []
    kept = {s.job: s.start for s in new_plan.routes[0].stops}
    assert all(kept[j] == start for j, start in frozen.items())


def test_a_shift_that_is_over_drops_out_and_its_jobs_go_back_to_the_pool() -> None:
    problem = line_problem(2, technicians=1)
    plan = solve(problem, time_limit=0.3)
    again = replan_problem(problem, plan, now=18 * HOUR)
    assert again.technicians[0].shifts == ()
    assert all(j.pin is None for j in again.jobs)
    assert solve(again, time_limit=0.3).totals.assigned == 0


def test_a_taken_break_is_not_taken_twice() -> None:
    base = line_problem(2)
    lunch = Break(earliest_start=12 * HOUR, latest_end=14 * HOUR, duration=HOUR // 2)
    technician = msgspec.structs.replace(
        base.technicians[0],
        shifts=(msgspec.structs.replace(base.technicians[0].shifts[0], breaks=(lunch,)),),
    )
    problem = msgspec.structs.replace(base, technicians=(technician,))
    plan = solve(problem, time_limit=0.3)
    taken = plan.routes[0].breaks[0]
    again = replan_problem(problem, plan, now=taken.end + 60)
    assert again.technicians[0].shifts[0].breaks == ()


def test_a_warm_start_from_the_previous_plan_is_never_worse() -> None:
    problem = field_service_problem(60, seed=3)
    first = solve(problem, time_limit=1.0)
    again = solve(problem, time_limit=0.3, hint=first)
    assert validate(problem, again) == []
    assert again.objective["total"] <= first.objective["total"]


def test_slots_are_graded_cheapest_first_and_impossible_ones_say_so() -> None:
    problem = line_problem(3)
    plan = solve(problem, time_limit=0.3)
    new = Job(id="new", location=1, duration=HOUR)
    windows = [
        Window(start=9 * HOUR, end=11 * HOUR),
        Window(start=20 * HOUR, end=21 * HOUR),  # after every shift
        Window(start=14 * HOUR, end=16 * HOUR),
    ]
    graded = grade_slots(problem, plan, new, windows)
    assert [g.feasible for g in graded] == [True, True, False]
    assert graded[-1].window == windows[1]
    assert graded[0].cost is not None
    assert graded[1].cost is not None
    assert graded[0].cost <= graded[1].cost
    # The slot it offers really fits: put the job there and the plan still validates.
    best = graded[0]
    assert best.start is not None
    assert best.window.start <= best.start <= best.window.end


def test_grading_slots_for_a_full_day_is_fast_enough_for_a_web_page() -> None:
    # The figure that counts is in the benchmark (bench/slots.py); this only guards the order of magnitude.
    problem = field_service_problem(300, seed=2, technicians=30)
    plan = solve(problem, time_limit=2.0)
    new = msgspec.structs.replace(problem.jobs[0], id="new", windows=())
    windows = [Window(start=h * HOUR, end=(h + 2) * HOUR) for h in range(8, 17, 2)]
    started = time.perf_counter()
    graded = grade_slots(problem, plan, new, windows)
    assert time.perf_counter() - started < 2.0
    assert len(graded) == len(windows)


def test_a_plan_with_the_new_job_in_its_graded_slot_validates() -> None:
    problem = line_problem(3)
    plan = solve(problem, time_limit=0.3)
    new = Job(id="new", location=2, duration=HOUR, windows=(Window(start=13 * HOUR, end=15 * HOUR),))
    best = grade_slots(problem, plan, new, list(new.windows))[0]
    assert best.feasible
    bigger = msgspec.structs.replace(problem, jobs=(*problem.jobs, new))
    replanned = solve(bigger, time_limit=0.5, hint=plan)
    assert replanned.totals.unassigned == 0
    assert validate(bigger, replanned) == []
