"""Every rule of the model, one at a time, on problems small enough to solve by hand.

For each hard rule: a problem where the solver keeps it and the plan is the one a dispatcher would draw, a
hand-made plan that breaks it and is caught by `validate` under the rule's name, and (where it applies) a job that
could only be served by breaking the rule, left out with a reason. Then the medium rule (what is kept when not
everything fits) and the soft goals (the cheaper of two feasible plans). Places lie on a line, one unit of
distance is one second of travel, shifts run from 0 to 1000 unless a test says otherwise.
"""

from __future__ import annotations

from typing import Any

import pytest

from scheduling.explain import explain_unassigned
from scheduling.plan import BreakTaken, Plan, Route, Stop, Totals, Unassigned
from scheduling.problem import (
    Break,
    Job,
    Location,
    Pin,
    Problem,
    Shift,
    SkillNeed,
    Technician,
    Weights,
    Window,
)
from scheduling.solver import solve
from scheduling.travel import build_matrix
from scheduling.validate import validate

LIMIT = 0.3
DAY = 86_400
CANNOT_REACH = "no skilled technician can reach the job inside one of its windows"
OTHER_WORK = "taken by other work"

# --- building problems -------------------------------------------------------------------------------------------


def places(*xs: float) -> tuple[Location, ...]:
    """Places on a line at these distances from the origin: travel time between two is their distance."""
    return tuple(Location(x=x, y=0) for x in xs)


def shift(id: str, *, start: int = 0, end: int = 1000, at: int = 0, **kw: Any) -> Shift:
    return Shift(id=id, start=start, end=end, start_location=at, end_location=at, **kw)


def tech(
    id: str,
    *,
    at: int = 0,
    skills: dict[str, int] | None = None,
    shifts: tuple[Shift, ...] = (),
    **shift_fields: Any,
) -> Technician:
    """A technician with the given shifts, or else one day shift `<id>-day` starting and ending at `at`."""
    return Technician(
        id=id, skills=skills or {}, shifts=shifts or (shift(f"{id}-day", at=at, **shift_fields),)
    )


def job(id: str, place: int, duration: int = 10, **kw: Any) -> Job:
    return Job(id=id, location=place, duration=duration, **kw)


def gas(level: int = 1) -> tuple[SkillNeed, ...]:
    return (SkillNeed(skill="gas", level=level),)


def window(start: int, end: int) -> tuple[Window, ...]:
    return (Window(start=start, end=end),)


def problem(
    locations: tuple[Location, ...], technicians: list[Technician], jobs: list[Job], **kw: Any
) -> Problem:
    return Problem(locations=locations, technicians=tuple(technicians), jobs=tuple(jobs), **kw)


# --- reading plans -----------------------------------------------------------------------------------------------


def solved(p: Problem) -> Plan:
    """The solver's plan, which must validate clean."""
    plan = solve(p, time_limit=LIMIT)
    assert validate(p, plan) == []
    return plan


def shift_of(plan: Plan) -> dict[str, str]:
    """Each routed job and the shift that does it."""
    return {s.job: r.shift for r in plan.routes for s in r.stops}


def order(plan: Plan, shift_id: str) -> list[str]:
    return next([s.job for s in r.stops] for r in plan.routes if r.shift == shift_id)


def stop(plan: Plan, job_id: str) -> Stop:
    return next(s for r in plan.routes for s in r.stops if s.job == job_id)


def left_out(plan: Plan) -> dict[str, str]:
    """Each unassigned job and its reasons, joined."""
    return {u.job: " ".join(u.reasons) for u in plan.unassigned}


# --- hand-made plans ---------------------------------------------------------------------------------------------


def visit(job_id: str, start: int, end: int) -> Stop:
    return Stop(job=job_id, arrival=start, start=start, end=end, travel=0, waiting=0)


def route(
    technician: str,
    *stops: Stop,
    shift_id: str | None = None,
    start: int = 0,
    breaks: tuple[tuple[int, int], ...] = (),
) -> Route:
    return Route(
        technician=technician,
        shift=shift_id or f"{technician}-day",
        stops=stops,
        start=start,
        end=stops[-1].end if stops else start,
        distance=0.0,
        travel_time=0,
        breaks=tuple(BreakTaken(start=s, end=e) for s, e in breaks),
    )


def plan_of(*routes: Route, unassigned: tuple[str, ...] = ()) -> Plan:
    return Plan(
        routes=routes,
        unassigned=tuple(Unassigned(job=j, reasons=("hand-made",)) for j in unassigned),
        totals=Totals(distance=0, travel_time=0, waiting_time=0, vehicles_used=0, assigned=0, unassigned=0),
    )


def broken(p: Problem, plan: Plan) -> set[str]:
    return {v.rule for v in validate(p, plan)}


# --- skills ------------------------------------------------------------------------------------------------------


def test_a_job_needing_gas_level_two_goes_to_the_senior_gas_fitter_past_nearer_colleagues() -> None:
    p = problem(
        places(0, 100, 10),
        [
            tech("plumber", skills={"plumbing": 3}),
            tech("junior", skills={"gas": 1}),
            tech("senior", at=1, skills={"gas": 2}),
        ],
        [job("boiler", 2, skills=gas(2))],
    )
    assert shift_of(solved(p)) == {"boiler": "senior-day"}


def test_a_plan_sending_the_plumber_to_a_gas_job_breaks_the_skills_rule() -> None:
    p = problem(places(0, 10), [tech("plumber", skills={"plumbing": 1})], [job("boiler", 1, skills=gas())])
    assert broken(p, plan_of(route("plumber", visit("boiler", 10, 20)))) == {"skills"}


def test_a_job_needing_more_gas_than_anyone_holds_is_left_out_naming_the_skill() -> None:
    p = problem(places(0, 10), [tech("fitter", skills={"gas": 2})], [job("boiler", 1, skills=gas(3))])
    assert "gas (level 3)" in left_out(solved(p))["boiler"]


# --- time windows ------------------------------------------------------------------------------------------------


def test_a_visit_waits_for_its_window_to_open() -> None:
    p = problem(places(0, 10), [tech("alice")], [job("j", 1, windows=window(300, 400))])
    assert stop(solved(p), "j").start == 300


def test_two_jobs_with_a_morning_and_an_afternoon_window_take_one_each() -> None:
    both = (Window(start=0, end=100), Window(start=500, end=600))
    p = problem(places(0, 10), [tech("alice")], [job(j, 1, 300, windows=both) for j in ("a", "b")])
    plan = solved(p)
    starts = sorted(stop(plan, j).start for j in ("a", "b"))
    assert starts[0] <= 100
    assert 500 <= starts[1] <= 600


def test_a_visit_between_two_windows_breaks_the_window_rule() -> None:
    both = (Window(start=0, end=100), Window(start=500, end=600))
    p = problem(places(0, 10), [tech("alice")], [job("j", 1, windows=both)])
    assert broken(p, plan_of(route("alice", visit("j", 300, 310)))) == {"window"}


def test_a_job_whose_window_closes_before_anyone_can_arrive_is_left_out() -> None:
    p = problem(places(0, 500), [tech("alice")], [job("j", 1, windows=window(0, 100))])
    assert CANNOT_REACH in left_out(solved(p))["j"]


# --- shifts and overtime -----------------------------------------------------------------------------------------


def test_a_route_starts_with_its_shift_and_is_home_by_its_end() -> None:
    p = problem(places(0, 100), [tech("alice", start=200, end=600)], [job("j", 1, 100)])
    plan = solved(p)
    assert stop(plan, "j").start == 300
    assert plan.routes[0].start >= 200
    assert plan.routes[0].end == 500


def test_a_job_that_only_fits_with_overtime_is_done_in_overtime() -> None:
    p = problem(places(0, 50), [tech("alice", end=100, overtime=200)], [job("j", 1, 100)])
    plan = solved(p)
    assert plan.routes[0].end == 200
    assert plan.objective["overtime"] == 10 * 100


def test_a_route_leaving_before_its_shift_starts_breaks_the_shift_rule() -> None:
    p = problem(places(0, 10), [tech("alice", start=200)], [job("j", 1)])
    assert broken(p, plan_of(route("alice", visit("j", 210, 220), start=100))) == {"shift"}


def test_a_route_home_after_the_overtime_allowance_breaks_the_shift_rule() -> None:
    p = problem(places(0, 10), [tech("alice", end=500, overtime=100)], [job("j", 1, 100)])
    # Back at 595 + 10 = 605, past 500 + 100.
    assert broken(p, plan_of(route("alice", visit("j", 495, 595)))) == {"shift"}


def test_a_job_too_long_for_the_shift_and_its_overtime_is_left_out() -> None:
    p = problem(places(0, 10), [tech("alice", end=100, overtime=50)], [job("j", 1, 200)])
    assert "back by the end of the shift" in left_out(solved(p))["j"]


# --- breaks ------------------------------------------------------------------------------------------------------


def test_a_break_is_taken_after_a_visit_fixed_in_its_way() -> None:
    rest = (Break(earliest_start=350, latest_end=550, duration=100),)
    p = problem(places(0, 10), [tech("alice", breaks=rest)], [job("j", 1, 50, windows=window(400, 400))])
    plan = solved(p)
    assert stop(plan, "j").start == 400
    assert plan.routes[0].breaks == (BreakTaken(start=450, end=550),)


def test_a_day_with_two_breaks_takes_both_between_visits() -> None:
    rests = (
        Break(earliest_start=200, latest_end=400, duration=50),
        Break(earliest_start=600, latest_end=800, duration=50),
    )
    p = problem(places(0, 10), [tech("alice", breaks=rests)], [job(f"j{k}", 1, 150) for k in range(4)])
    plan = solved(p)
    assert plan.totals.assigned == 4
    taken = sorted((b.start, b.end) for b in plan.routes[0].breaks)
    assert len(taken) == 2
    for (start, end), rule in zip(taken, rests, strict=True):
        assert rule.earliest_start <= start < end <= rule.latest_end
        assert end - start == rule.duration


def test_a_visit_overlapping_the_break_breaks_the_break_rule() -> None:
    rest = (Break(earliest_start=400, latest_end=600, duration=100),)
    p = problem(places(0, 10), [tech("alice", breaks=rest)], [job("j", 1, 100)])
    plan = plan_of(route("alice", visit("j", 450, 550), breaks=((400, 500),)))
    assert broken(p, plan) == {"break"}


def test_a_route_skipping_one_of_its_two_breaks_breaks_the_break_rule() -> None:
    rests = (
        Break(earliest_start=200, latest_end=400, duration=50),
        Break(earliest_start=600, latest_end=800, duration=50),
    )
    p = problem(places(0, 10), [tech("alice", breaks=rests)], [job("j", 1)])
    assert broken(p, plan_of(route("alice", visit("j", 10, 20), breaks=((200, 250),)))) == {"break"}


def test_a_job_longer_than_either_side_of_a_fixed_break_is_left_out() -> None:
    rest = (Break(earliest_start=400, latest_end=600, duration=200),)
    p = problem(places(0, 10), [tech("alice", breaks=rest)], [job("j", 1, 500)])
    assert list(left_out(solved(p))) == ["j"]


# --- required and excluded technicians ---------------------------------------------------------------------------


def test_a_job_requiring_bob_goes_to_bob_though_alice_is_nearer() -> None:
    p = problem(
        places(0, 100, 10), [tech("alice"), tech("bob", at=1)], [job("j", 2, required_technicians=("bob",))]
    )
    assert shift_of(solved(p)) == {"j": "bob-day"}


def test_a_job_excluding_alice_goes_to_bob_though_alice_is_nearer() -> None:
    p = problem(
        places(0, 100, 10), [tech("alice"), tech("bob", at=1)], [job("j", 2, excluded_technicians=("alice",))]
    )
    assert shift_of(solved(p)) == {"j": "bob-day"}


def test_a_plan_sending_alice_where_she_is_excluded_or_not_required_breaks_the_technician_rule() -> None:
    p = problem(
        places(0, 10),
        [tech("alice"), tech("bob")],
        [job("a", 1, excluded_technicians=("alice",)), job("b", 1, required_technicians=("bob",))],
    )
    plan = plan_of(route("alice", visit("a", 10, 20), visit("b", 20, 30)))
    assert [v.rule for v in validate(p, plan)] == ["technician", "technician"]


def test_a_job_excluding_the_only_gas_fitter_is_left_out_saying_so() -> None:
    p = problem(
        places(0, 10),
        [tech("fitter", skills={"gas": 1}), tech("plumber")],
        [job("boiler", 1, skills=gas(), excluded_technicians=("fitter",))],
    )
    assert "excluded" in left_out(solved(p))["boiler"]


# --- pinned and frozen work, freeze time -------------------------------------------------------------------------


def test_pinned_work_stays_with_its_technician_in_its_sequence() -> None:
    pinned = [
        job("far", 2, pin=Pin(shift="bob-day", sequence=0)),
        job("near", 1, pin=Pin(shift="bob-day", sequence=1)),
    ]
    # Alice, at 0, is much nearer both jobs than Bob, at 100, and would do "near" first.
    p = problem(places(0, 10, 20, 100), [tech("alice"), tech("bob", at=3)], pinned)
    assert order(solved(p), "bob-day") == ["far", "near"]


def test_a_plan_moving_pinned_work_to_another_technician_breaks_the_pinned_rule() -> None:
    p = problem(places(0, 10), [tech("alice"), tech("bob")], [job("j", 1, pin=Pin(shift="bob-day"))])
    assert broken(p, plan_of(route("alice", visit("j", 10, 20)))) == {"pinned"}


def test_work_pinned_to_a_shift_that_cannot_reach_it_is_left_out_rather_than_moved() -> None:
    p = problem(
        places(0, 10),
        [tech("alice", start=900, end=1000), tech("bob")],
        [job("j", 1, 10, windows=window(0, 100), pin=Pin(shift="alice-day"))],
    )
    plan = solve(p, time_limit=LIMIT)
    assert plan.routes == ()
    assert list(left_out(plan)) == ["j"]


def test_a_frozen_visit_starts_exactly_then_even_before_the_freeze() -> None:
    p = problem(
        places(0, 10),
        [tech("alice")],
        [job("under-way", 1, 100, pin=Pin(shift="alice-day", start=300)), job("next", 1)],
        freeze_time=350,
    )
    plan = solved(p)
    assert stop(plan, "under-way").start == 300
    assert stop(plan, "next").start >= 400


def test_a_frozen_visit_started_late_breaks_the_frozen_rule() -> None:
    p = problem(places(0, 10), [tech("alice")], [job("j", 1, pin=Pin(shift="alice-day", start=300))])
    assert broken(p, plan_of(route("alice", visit("j", 310, 320)))) == {"frozen"}


def test_a_frozen_visit_the_technician_cannot_reach_in_time_is_left_out() -> None:
    p = problem(places(0, 100), [tech("alice")], [job("j", 1, pin=Pin(shift="alice-day", start=50))])
    plan = solve(p, time_limit=LIMIT)
    assert plan.routes == ()
    assert list(left_out(plan)) == ["j"]


def test_after_the_freeze_time_visits_start_no_earlier_and_use_a_later_window() -> None:
    both = (Window(start=0, end=400), Window(start=600, end=700))
    p = problem(places(0, 10), [tech("alice")], [job("any", 1), job("two", 1, windows=both)], freeze_time=500)
    plan = solved(p)
    assert stop(plan, "any").start >= 500
    assert stop(plan, "two").start >= 600


def test_a_visit_before_the_freeze_time_breaks_the_freeze_rule() -> None:
    p = problem(places(0, 10), [tech("alice")], [job("j", 1)], freeze_time=500)
    assert broken(p, plan_of(route("alice", visit("j", 100, 110)))) == {"freeze"}


def test_a_job_whose_only_window_ends_before_the_freeze_time_is_left_out() -> None:
    p = problem(places(0, 10), [tech("alice")], [job("j", 1, windows=window(0, 400))], freeze_time=500)
    assert list(left_out(solved(p))) == ["j"]


# --- capacity and maximum travel ---------------------------------------------------------------------------------


def test_two_loads_too_heavy_for_one_van_are_split_between_two() -> None:
    p = problem(
        places(0, 100, 10),
        [tech("alice", capacity=10), tech("bob", at=1, capacity=10)],
        [job("a", 2, demand=6), job("b", 2, demand=6)],
    )
    assert sorted(shift_of(solved(p)).values()) == ["alice-day", "bob-day"]


def test_a_van_loaded_beyond_its_capacity_breaks_the_capacity_rule() -> None:
    p = problem(places(0, 10), [tech("alice", capacity=10)], [job("a", 1, demand=6), job("b", 1, demand=6)])
    assert broken(p, plan_of(route("alice", visit("a", 10, 20), visit("b", 20, 30)))) == {"capacity"}


def test_a_load_heavier_than_every_van_is_left_out_saying_so() -> None:
    p = problem(places(0, 10), [tech("alice", capacity=10)], [job("j", 1, demand=20)])
    assert "exceeds the capacity" in left_out(solved(p))["j"]


def test_a_technician_with_little_travel_allowed_keeps_the_near_job_and_leaves_the_far_one() -> None:
    p = problem(
        places(0, 1000, 40, 300),
        [tech("alice", max_travel=100, end=2000), tech("bob", at=1, end=2000)],
        [job("near", 2), job("far", 3)],
    )
    assert shift_of(solved(p)) == {"near": "alice-day", "far": "bob-day"}


def test_a_route_travelling_beyond_its_maximum_breaks_the_max_travel_rule() -> None:
    p = problem(places(0, 300), [tech("alice", max_travel=100)], [job("far", 1)])
    assert broken(p, plan_of(route("alice", visit("far", 300, 310)))) == {"max_travel"}


def test_a_job_beyond_the_only_technicians_travel_allowance_is_left_out() -> None:
    p = problem(places(0, 300), [tech("alice", max_travel=100)], [job("far", 1)])
    assert list(left_out(solved(p))) == ["far"]


# --- every job accounted for, once -------------------------------------------------------------------------------


def test_every_job_is_routed_once_or_listed_as_left_out() -> None:
    p = problem(
        places(0, 10, 20),
        [tech("alice"), tech("bob")],
        [job("a", 1), job("b", 2), job("boiler", 1, skills=gas())],
    )
    plan = solved(p)
    listed = [s.job for r in plan.routes for s in r.stops] + [u.job for u in plan.unassigned]
    assert sorted(listed) == ["a", "b", "boiler"]


def test_a_plan_forgetting_a_job_breaks_the_accounted_rule() -> None:
    p = problem(places(0, 10), [tech("alice")], [job("a", 1), job("b", 1)])
    assert broken(p, plan_of(route("alice", visit("a", 10, 20)))) == {"accounted"}


def test_a_job_visited_by_two_technicians_breaks_the_once_rule() -> None:
    p = problem(places(0, 10), [tech("alice"), tech("bob")], [job("a", 1)])
    plan = plan_of(route("alice", visit("a", 10, 20)), route("bob", visit("a", 10, 20)))
    assert broken(p, plan) == {"once"}


# --- medium: what is kept when not everything fits ---------------------------------------------------------------


def test_the_higher_priority_job_is_kept_when_only_one_fits() -> None:
    at_100 = window(100, 100)
    p = problem(
        places(0, 10),
        [tech("alice")],
        [job("routine", 1, 50, windows=at_100, priority=0), job("urgent", 1, 50, windows=at_100, priority=3)],
    )
    plan = solved(p)
    assert shift_of(plan) == {"urgent": "alice-day"}
    assert "higher priority" in left_out(plan)["routine"]


def test_a_job_due_inside_the_horizon_is_kept_over_an_identical_one_without_a_deadline() -> None:
    at_100 = window(100, 100)
    p = problem(
        places(0, 10),
        [tech("alice")],
        [job("whenever", 1, 50, windows=at_100), job("due", 1, 50, windows=at_100, due=500)],
    )
    assert shift_of(solved(p)) == {"due": "alice-day"}


# --- soft goals: the cheaper of two feasible plans ---------------------------------------------------------------


def test_stops_on_a_line_are_visited_in_order_out_and_back() -> None:
    p = problem(places(0, 30, 10, 20), [tech("alice")], [job("x30", 1), job("x10", 2), job("x20", 3)])
    plan = solved(p)
    assert order(plan, "alice-day") == ["x10", "x20", "x30"]
    assert plan.totals.travel_time == 60


def test_a_job_goes_to_the_nearer_technician() -> None:
    p = problem(places(0, 100, 90), [tech("alice"), tech("bob", at=1)], [job("j", 2)])
    assert shift_of(solved(p)) == {"j": "bob-day"}


def test_the_job_with_an_early_preferred_window_is_visited_first() -> None:
    p = problem(
        places(0, 10),
        [tech("alice")],
        [job("relaxed", 1, 200), job("early", 1, 200, preferred_window=Window(start=0, end=50))],
    )
    plan = solved(p)
    assert order(plan, "alice-day") == ["early", "relaxed"]
    assert plan.objective["lateness"] == 0


def test_the_customer_gets_the_technician_they_prefer_when_travel_is_equal() -> None:
    p = problem(places(0, 10), [tech("alice"), tech("bob")], [job("j", 1, preferred_technicians=("bob",))])
    plan = solved(p)
    assert shift_of(plan) == {"j": "bob-day"}
    assert plan.objective["preference"] == 0


def test_a_level_one_gas_job_goes_to_the_level_one_fitter_not_the_senior() -> None:
    p = problem(
        places(0, 10),
        [tech("senior", skills={"gas": 3}), tech("junior", skills={"gas": 1})],
        [job("boiler", 1, skills=gas(1))],
    )
    assert shift_of(solved(p)) == {"boiler": "junior-day"}


def test_overtime_is_avoided_when_another_technician_can_finish_in_time() -> None:
    locations = places(0, 300, 50)
    staff = [tech("alice", end=100, overtime=1000), tech("bob", at=1)]
    jobs = [job("j", 2, 100)]
    # Alice: 100 of travel and 100 of overtime at 10 each; Bob: 500 of travel and no overtime.
    assert shift_of(solved(problem(locations, staff, jobs))) == {"j": "bob-day"}
    # Without an overtime cost Alice's shorter drive wins.
    free_overtime = solved(problem(locations, staff, jobs, weights=Weights(overtime=0)))
    assert shift_of(free_overtime) == {"j": "alice-day"}
    assert free_overtime.routes[0].end == 200


def test_a_fairness_weight_spreads_the_jobs_over_both_technicians() -> None:
    locations = places(0, 100)
    staff = [tech("alice"), tech("bob")]
    jobs = [job(f"j{k}", 1) for k in range(4)]
    # Travel alone sends one technician to do all four.
    assert len(set(shift_of(solved(problem(locations, staff, jobs))).values())) == 1
    fair = solved(problem(locations, staff, jobs, weights=Weights(fairness=1000)))
    assert sorted(len(r.stops) for r in fair.routes) == [2, 2]


# --- several days ------------------------------------------------------------------------------------------------


def test_a_technician_working_two_days_does_each_days_job_on_that_days_shift() -> None:
    days = (shift("alice-mon"), shift("alice-tue", start=DAY, end=DAY + 1000))
    p = problem(
        places(0, 10),
        [tech("alice", shifts=days)],
        [job("tuesday", 1, windows=window(DAY + 100, DAY + 900)), job("monday", 1, windows=window(100, 900))],
    )
    plan = solved(p)
    assert shift_of(plan) == {"monday": "alice-mon", "tuesday": "alice-tue"}
    assert DAY + 100 <= stop(plan, "tuesday").start <= DAY + 900


# --- the objective -----------------------------------------------------------------------------------------------


def test_the_plans_objective_is_the_one_or_tools_minimised_with_every_soft_goal_on() -> None:
    weights = Weights(
        travel_time=2,
        distance=1,
        span=1,
        overtime=10,
        lateness=3,
        preferred_technician=300,
        over_qualification=50,
        fairness=200,
        vehicle=40,
    )
    rest = (Break(earliest_start=250, latest_end=500, duration=60),)
    # The best plan found pays something for every goal: Alice (a senior, with a break) works into her overtime
    # and carries more than her share, "a" and "d" start late, "e" needs a skill nobody has.
    p = problem(
        places(0, 100, 40, 70, 120),
        [
            tech("alice", skills={"gas": 3}, breaks=rest, overtime=300, end=600),
            tech("bob", at=1, skills={"gas": 1}, end=400),
        ],
        [
            job("a", 2, 200, skills=gas(), preferred_window=Window(start=0, end=20)),
            job("b", 3, 150, preferred_technicians=("alice",), windows=window(300, 600)),
            job("c", 4, 150, priority=2),
            job("d", 2, 100, preferred_window=Window(start=0, end=10)),
            job("e", 3, 10, skills=gas(4), due=100),
            job("f", 0, 10),
        ],
        weights=weights,
    )
    plan = solved(p)
    assert "solver" in plan.objective
    assert plan.objective["total"] == plan.objective["solver"]


# --- pins and explanations found wanting once, now held ------------------------------------------------------------------------------------------------


def test_a_plan_doing_pinned_work_out_of_sequence_breaks_the_pinned_rule() -> None:
    pinned = [
        job("first", 1, pin=Pin(shift="alice-day", sequence=0)),
        job("second", 1, pin=Pin(shift="alice-day", sequence=1)),
    ]
    p = problem(places(0, 10), [tech("alice")], pinned)
    assert broken(p, plan_of(route("alice", visit("second", 10, 20), visit("first", 20, 30)))) == {"pinned"}


def test_a_job_pinned_to_a_technician_without_its_skill_is_not_done_by_them() -> None:
    p = problem(
        places(0, 10),
        [tech("alice"), tech("fitter", skills={"gas": 1})],
        [job("boiler", 1, skills=gas(), pin=Pin(shift="alice-day"))],
    )
    plan = solve(p, time_limit=LIMIT)
    assert "skills" not in broken(p, plan)
    assert list(left_out(plan)) == ["boiler"]


def test_a_plan_leaving_out_pinned_work_nobody_can_do_validates_clean() -> None:
    p = problem(places(0, 100), [tech("alice")], [job("j", 1, pin=Pin(shift="alice-day", start=50))])
    plan = solve(p, time_limit=LIMIT)
    assert list(left_out(plan)) == ["j"]
    assert validate(p, plan) == []


@pytest.mark.parametrize(
    "p",
    [
        pytest.param(
            problem(
                places(0, 10),
                [tech("alice", breaks=(Break(earliest_start=400, latest_end=600, duration=200),))],
                [job("j", 1, 500)],
            ),
            id="break",
        ),
        pytest.param(
            problem(places(0, 10), [tech("alice")], [job("j", 1, windows=window(0, 400))], freeze_time=500),
            id="freeze",
        ),
        pytest.param(
            problem(places(0, 300), [tech("alice", max_travel=100)], [job("j", 1)]), id="max-travel"
        ),
        pytest.param(
            problem(places(0, 100), [tech("alice")], [job("j", 1, pin=Pin(shift="alice-day", start=50))]),
            id="frozen",
        ),
    ],
)
def test_a_job_nobody_could_do_alone_is_not_blamed_on_other_work(p: Problem) -> None:
    (lonely,) = p.jobs
    reasons = explain_unassigned(p, build_matrix(p), lonely)
    assert OTHER_WORK not in " ".join(reasons)
