"""Large days solved area by area: the areas' plans joined, and work moved across their borders.

The area split only starts above `BREAK_SHIFT_LIMIT` shifts with breaks; these tests lower that limit so that
small days, quick to solve, go the same way.
"""

from __future__ import annotations

import time

import pytest

from scheduling import solver
from scheduling.construct import construct
from scheduling.generator import field_service_problem
from scheduling.insertion import insert_left_out
from scheduling.model import able_shifts
from scheduling.timeline import time_route
from scheduling.travel import build_matrix
from scheduling.validate import validate
from tests.scheduling.test_rules import job, places, problem, tech, window


def later(seconds: float = 5.0) -> float:
    return time.perf_counter() + seconds


def test_a_left_out_job_goes_to_the_route_that_passes_nearest() -> None:
    # a lives at 0 and works at 100, b lives at 900 and works at 860; the new job at 880 fits both days, and
    # b's costs far less travel.
    p = problem(
        places(0, 100, 900, 860, 880),
        [tech("a"), tech("b", at=2)],
        [job("near-a", 1), job("near-b", 3), job("new", 4)],
    )
    routes = insert_left_out(p, build_matrix(p), [[0], [1]], able_shifts(p), deadline=later())
    assert routes == [[0], [2, 1]] or routes == [[0], [1, 2]]


def test_a_job_goes_where_it_fits_even_if_another_route_is_nearer() -> None:
    # a's day is full (its job ends at 990); only b can still take the job, though a's route passes right by it.
    p = problem(
        places(0, 100, 110, 300),
        [tech("a"), tech("b", at=3)],
        [job("long", 1, duration=880), job("new", 2)],
    )
    routes = insert_left_out(p, build_matrix(p), [[0], []], able_shifts(p), deadline=later())
    assert routes == [[0], [1]]


def test_a_job_that_fits_nowhere_stays_out_and_the_rest_is_untouched() -> None:
    p = problem(
        places(0, 100, 5000),
        [tech("a")],
        [job("kept", 1), job("too-far", 2, windows=window(0, 900))],
    )
    assert insert_left_out(p, build_matrix(p), [[0]], able_shifts(p), deadline=later()) == [[0]]


def test_the_more_important_job_gets_the_last_room() -> None:
    # Room for one more 400-second job in a's day: the priority-3 job takes it.
    p = problem(
        places(0, 10, 20, 30),
        [tech("a")],
        [
            job("done", 1, duration=400),
            job("minor", 2, duration=400),
            job("major", 3, duration=400, priority=3),
        ],
    )
    routes = insert_left_out(
        p,
        build_matrix(p),
        [
            [0],
        ],
        able_shifts(p),
        deadline=later(),
    )
    assert sorted(routes[0]) == [0, 2]


def test_nothing_is_added_once_the_deadline_has_passed() -> None:
    p = problem(places(0, 10), [tech("a")], [job("new", 1)])
    assert insert_left_out(p, build_matrix(p), [[]], able_shifts(p), deadline=0.0) == [[]]


@pytest.mark.parametrize("seed", [1, 2])
def test_every_route_the_insertion_returns_still_keeps_every_rule(seed: int) -> None:
    p = field_service_problem(80, seed=seed)
    matrix, able = build_matrix(p), able_shifts(p)
    # Half the construction's routes emptied: plenty of left-out work and of room to put it back.
    start = [r if v % 2 else [] for v, r in enumerate(construct(p, matrix, able))]
    routes = insert_left_out(p, matrix, start, able, deadline=later())
    assert sum(map(len, routes)) > sum(map(len, start))
    for (_, shift), route in zip(p.shifts, routes, strict=True):
        assert time_route([p.jobs[j] for j in route], shift, matrix) is not None


def test_a_day_split_into_areas_is_a_valid_plan_that_keeps_the_construction_s_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(solver, "BREAK_SHIFT_LIMIT", 4)
    p = field_service_problem(90, seed=3)
    matrix, able = build_matrix(p), able_shifts(p)
    constructed = sum(map(len, construct(p, matrix, able)))
    plan = solver.solve(p, time_limit=3)
    assert validate(p, plan) == []
    assert plan.totals.assigned >= constructed
    assert plan.totals.assigned + plan.totals.unassigned == len(p.jobs)
