"""The optimizer: every plan it returns validates clean, on classic instances and on random field-service ones."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduling.plan import Plan
from scheduling.problem import (
    Break,
    Job,
    Location,
    Pin,
    Problem,
    ProblemError,
    Shift,
    SkillNeed,
    Technician,
    Weights,
    Window,
)
from scheduling.solomon import SCALE, load_solomon
from scheduling.solver import solve
from scheduling.travel import build_matrix
from scheduling.validate import route_distance, validate

SOLOMON = Path(__file__).resolve().parents[3] / "shared" / "data" / "vrptw" / "solomon"
SKILLS = ("gas", "electrical", "plumbing")
DAY = 86_400


@pytest.mark.skipif(not SOLOMON.exists(), reason="the Solomon instances live in ../shared")
@pytest.mark.parametrize("name", ["R101", "C201"])
def test_a_solomon_instance_is_served_whole_and_validates(name: str) -> None:
    problem = load_solomon(SOLOMON / f"{name}.txt")
    plan = solve(problem, time_limit=1.0)
    assert validate(problem, plan) == []
    assert plan.totals.unassigned == 0
    assert plan.first_solution_ms is not None
    assert plan.first_solution_ms < 1000
    assert plan.totals.distance / SCALE > 0


@st.composite
def field_problems(draw: st.DrawFn) -> Problem:
    n_places = draw(st.integers(3, 12))
    locations = tuple(
        Location(x=draw(st.integers(0, 3000)), y=draw(st.integers(0, 3000))) for _ in range(n_places)
    )
    technicians = []
    for t in range(draw(st.integers(1, 3))):
        start = draw(st.integers(0, 1000))
        end = start + draw(st.integers(2000, 9000))
        breaks: tuple[Break, ...] = ()
        if draw(st.booleans()):
            earliest = start + 1000
            breaks = (Break(earliest_start=earliest, latest_end=min(end, earliest + 2000), duration=600),)
        skills = {s: draw(st.integers(1, 3)) for s in SKILLS if draw(st.booleans())}
        days = draw(st.integers(1, 2))  # a second shift the next "day", for multi-day horizons
        technicians.append(
            Technician(
                id=f"t{t}",
                skills=skills,
                shifts=tuple(
                    Shift(
                        id=f"t{t}-day{d}",
                        start=start + d * DAY,
                        end=end + d * DAY,
                        start_location=draw(st.integers(0, n_places - 1)),
                        end_location=draw(st.integers(0, n_places - 1)),
                        breaks=tuple(
                            Break(
                                earliest_start=b.earliest_start + d * DAY,
                                latest_end=b.latest_end + d * DAY,
                                duration=b.duration,
                            )
                            for b in breaks
                        ),
                        overtime=draw(st.sampled_from((0, 0, 600))),
                    )
                    for d in range(days)
                ),
            )
        )
    shift_ids = [s.id for t in technicians for s in t.shifts]
    tech_ids = [t.id for t in technicians]
    jobs = []
    for j in range(draw(st.integers(1, 10))):
        windows: tuple[Window, ...] = ()
        if draw(st.booleans()):
            first = draw(st.integers(0, 6000))
            windows = (Window(start=first, end=first + draw(st.integers(0, 1500))),)
            if draw(st.booleans()):
                second = windows[0].end + draw(st.integers(1, 2000))
                windows += (Window(start=second, end=second + draw(st.integers(0, 1500))),)
        needs = tuple(
            SkillNeed(skill=s, level=draw(st.integers(1, 3))) for s in SKILLS if draw(st.booleans())
        )
        pin = None
        if draw(st.integers(0, 5)) == 0:
            pin = Pin(shift=draw(st.sampled_from(shift_ids)), sequence=j)
        jobs.append(
            Job(
                id=f"j{j}",
                location=draw(st.integers(0, n_places - 1)),
                duration=draw(st.integers(0, 1800)),
                windows=windows,
                skills=needs[:1],
                priority=draw(st.integers(0, 3)),
                preferred_technicians=tuple(draw(st.lists(st.sampled_from(tech_ids), max_size=1))),
                excluded_technicians=tuple(draw(st.lists(st.sampled_from(tech_ids), max_size=1))),
                due=draw(st.none() | st.integers(0, 2 * DAY)),
                pin=pin,
            )
        )
    return Problem(
        locations=locations,
        technicians=tuple(technicians),
        jobs=tuple(jobs),
        freeze_time=draw(st.none() | st.integers(0, 3000)),
        weights=Weights(fairness=draw(st.sampled_from((0, 100))), span=draw(st.sampled_from((0, 1)))),
    )


@settings(max_examples=25, deadline=None)
@given(field_problems())
def test_every_plan_the_solver_returns_validates_clean(problem: Problem) -> None:
    plan: Plan = solve(problem, time_limit=0.2)
    assert validate(problem, plan) == []
    assert plan.totals.assigned + plan.totals.unassigned == len(problem.jobs)
    # The totals it reports are the ones recomputed from the routes and the problem alone.
    matrix = build_matrix(problem)
    shifts = {s.id: s for _, s in problem.shifts}
    jobs = {j.id: j for j in problem.jobs}
    assert plan.totals.travel_time == sum(
        matrix.time_of(a, b)
        for r in plan.routes
        for a, b in itertools.pairwise(
            [
                shifts[r.shift].start_location,
                *(jobs[s.job].location for s in r.stops),
                shifts[r.shift].end_location,
            ]
        )
    )
    assert plan.totals.distance == pytest.approx(
        sum(route_distance(r, shifts[r.shift], jobs, matrix) for r in plan.routes)
    )
    if "solver" in plan.objective:
        assert plan.objective["total"] == plan.objective["solver"]
    for left_out in plan.unassigned:
        assert left_out.reasons
        assert all(isinstance(r, str) and r for r in left_out.reasons)


def test_a_job_nobody_is_skilled_for_is_left_out_with_the_skill_named() -> None:
    problem = Problem(
        locations=(Location(x=0, y=0), Location(x=10, y=0)),
        technicians=(
            Technician(
                id="t",
                skills={"gas": 1},
                shifts=(Shift(id="d", start=0, end=1000, start_location=0, end_location=0),),
            ),
        ),
        jobs=(Job(id="j", location=1, duration=10, skills=(SkillNeed(skill="electrical", level=2),)),),
    )
    plan = solve(problem, time_limit=0.2)
    assert [u.job for u in plan.unassigned] == ["j"]
    assert "electrical" in plan.unassigned[0].reasons[0]


def test_a_problem_that_contradicts_itself_is_refused_naming_the_field() -> None:
    with pytest.raises(ProblemError, match=r"job .j.*location 5"):
        Problem(locations=(Location(x=0, y=0),), technicians=(), jobs=(Job(id="j", location=5, duration=1),))
