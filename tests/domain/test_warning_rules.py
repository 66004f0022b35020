"""The prediction core of the early warnings (domain.arrivals): each rule where it holds and where it is broken, and
the general laws of a route under hypothesis."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import uuid

from hypothesis import given
from hypothesis import strategies as st

from domain.arrivals import Prediction, Stop, Travel, behind_plan, minutes, predict, walk_order
from domain.travel import Point, drive_time

NOW = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)
HOME: Point = (45.75, 4.84)
HOUR = dt.timedelta(hours=1)
MINUTE = dt.timedelta(minutes=1)


def flat(minutes_apart: int) -> Travel:
    """A travel function where every drive takes the same time: the arithmetic of a test stays readable."""
    return lambda _a, _b: dt.timedelta(minutes=minutes_apart)


def stop(**values: object) -> Stop:
    defaults: dict[str, object] = {"job_id": uuid.uuid4(), "place": (45.78, 4.83), "duration": HOUR}
    return Stop(**{**defaults, **values})  # type: ignore[arg-type]


def window(start_h: float, end_h: float) -> tuple[dt.datetime, dt.datetime]:
    return NOW + dt.timedelta(hours=start_h), NOW + dt.timedelta(hours=end_h)


def by_job(predictions: list[Prediction]) -> dict[uuid.UUID, Prediction]:
    return {p.stop.job_id: p for p in predictions}


# The walk ---------------------------------------------------------------------------------------------------------


def test_an_idle_technician_drives_to_the_first_job_and_waits_for_its_window() -> None:
    early, late = stop(windows=(window(-1, 3),)), stop(windows=(window(4, 6),))
    first, second = predict([early, late], start=HOME, now=NOW, travel=flat(10))
    assert first.arrival == NOW + 10 * MINUTE
    assert first.finish == NOW + 70 * MINUTE
    # Ready at 10:20, but the customer expects them from 13:00.
    assert second.arrival == NOW + 4 * HOUR
    assert first.late_by is None
    assert second.late_by is None


def test_a_job_on_site_finishes_when_its_duration_is_up_and_never_before_now() -> None:
    on_time = stop(arrived_at=NOW - 30 * MINUTE)
    [p] = predict([on_time], start=HOME, now=NOW)
    assert p.finish == NOW + 30 * MINUTE
    overrun = stop(arrived_at=NOW - 2 * HOUR)
    [p] = predict([overrun], start=HOME, now=NOW)
    assert p.finish == NOW
    assert p.arrival == NOW - 2 * HOUR


def test_a_job_on_the_way_is_reached_after_the_drive_from_where_they_set_out_and_never_before_now() -> None:
    far: Point = (45.70, 4.90)
    driving = stop(set_out_at=NOW - 5 * MINUTE, set_out_from=far)
    [p] = predict([driving], start=HOME, now=NOW)
    assert p.arrival == NOW - 5 * MINUTE + drive_time(far, driving.place)
    assert p.arrival > NOW
    stuck = stop(set_out_at=NOW - 3 * HOUR, set_out_from=far)
    [p] = predict([stuck], start=HOME, now=NOW)
    assert p.arrival == NOW


def test_an_overrun_on_site_makes_the_next_job_miss_its_window() -> None:
    current = stop(arrived_at=NOW - HOUR, duration=5 * HOUR)
    nxt = stop(windows=(window(0, 3),), resolve_by=NOW + 24 * HOUR)
    predictions = by_job(predict([nxt, current], start=HOME, now=NOW, travel=flat(20)))
    late = predictions[nxt.job_id]
    assert late.arrival == NOW + 4 * HOUR + 20 * MINUTE
    assert late.window_missed_by == HOUR + 20 * MINUTE
    assert late.resolve_missed_by is None
    assert late.late_by == HOUR + 20 * MINUTE
    assert minutes(late.late_by) == 80


def test_a_finish_after_resolve_by_is_late_even_inside_the_window() -> None:
    tight = stop(windows=(window(0, 8),), resolve_by=NOW + 30 * MINUTE, duration=HOUR)
    [p] = predict([tight], start=HOME, now=NOW, travel=flat(10))
    assert p.window_missed_by is None
    assert p.resolve_missed_by == 40 * MINUTE


def test_a_job_reached_after_its_window_is_no_longer_late_for_the_window_only_for_resolve_by() -> None:
    reached = stop(windows=(window(-4, -1),), arrived_at=NOW - 10 * MINUTE, resolve_by=NOW + 8 * HOUR)
    [p] = predict([reached], start=HOME, now=NOW)
    assert p.late_by is None
    overdue = dataclasses.replace(reached, resolve_by=NOW + 10 * MINUTE)
    [p] = predict([overdue], start=HOME, now=NOW)
    assert p.late_by == 40 * MINUTE


def test_without_a_window_or_deadline_nothing_is_late() -> None:
    [p] = predict([stop()], start=HOME, now=NOW)
    assert p.late_by is None


def test_with_several_windows_the_visit_waits_for_the_next_one_that_is_still_open() -> None:
    gapped = stop(windows=(window(4, 6), window(0, 1)))
    assert gapped.window_end == NOW + 6 * HOUR
    assert gapped.opens_at(NOW + 30 * MINUTE) == NOW + 30 * MINUTE
    assert gapped.opens_at(NOW + 2 * HOUR) == NOW + 4 * HOUR
    assert gapped.opens_at(NOW + 7 * HOUR) == NOW + 7 * HOUR


def test_the_walk_starts_with_what_the_technician_is_at() -> None:
    waiting, driving, on_site = stop(), stop(set_out_at=NOW), stop(arrived_at=NOW)
    assert walk_order([waiting, driving, on_site]) == [on_site, driving, waiting]


# Behind the plan ------------------------------------------------------------------------------------------------


def test_a_technician_not_set_out_past_the_grace_is_behind() -> None:
    planned = stop(planned_start=NOW - 20 * MINUTE)
    predictions = predict([planned], start=HOME, now=NOW, travel=flat(5))
    behind = behind_plan(predictions, now=NOW, grace=15 * MINUTE)
    assert behind is not None
    assert behind.not_set_out
    assert behind.late_by == 25 * MINUTE
    within = behind_plan(predictions, now=NOW - 10 * MINUTE, grace=15 * MINUTE)
    assert within is None or not within.not_set_out


def test_a_technician_on_the_way_and_due_within_the_grace_is_not_behind() -> None:
    driving = stop(planned_start=NOW, set_out_at=NOW - 5 * MINUTE, set_out_from=HOME)
    predictions = predict([driving], start=HOME, now=NOW + 10 * MINUTE, travel=flat(15))
    assert behind_plan(predictions, now=NOW + 10 * MINUTE, grace=15 * MINUTE) is None


def test_an_overrun_puts_the_technician_behind_at_the_next_job() -> None:
    current = stop(arrived_at=NOW - HOUR, duration=3 * HOUR, planned_start=NOW - HOUR)
    nxt = stop(planned_start=NOW + HOUR)
    predictions = predict([current, nxt], start=HOME, now=NOW, travel=flat(10))
    behind = behind_plan(predictions, now=NOW, grace=15 * MINUTE)
    assert behind is not None
    assert behind.stop is nxt
    assert not behind.not_set_out
    assert behind.late_by == HOUR + 10 * MINUTE
    # Only 10 minutes over: within the grace.
    shorter = predict([dataclasses.replace(current, duration=HOUR * 2)], start=HOME, now=NOW)
    assert behind_plan([*shorter, *predict([nxt], start=HOME, now=NOW)], now=NOW, grace=15 * MINUTE) is None


def test_a_day_with_every_job_reached_is_behind_nothing() -> None:
    predictions = predict([stop(arrived_at=NOW, planned_start=NOW - HOUR)], start=HOME, now=NOW)
    assert behind_plan(predictions, now=NOW, grace=15 * MINUTE) is None


# Laws -----------------------------------------------------------------------------------------------------------

LYON = st.tuples(st.floats(45.70, 45.80), st.floats(4.78, 4.90))
OFFSET = st.integers(-6 * 60, 10 * 60).map(lambda m: NOW + dt.timedelta(minutes=m))


@st.composite
def stops(draw: st.DrawFn, *, live: str | None = None) -> Stop:
    windows = draw(
        st.lists(
            st.tuples(OFFSET, st.integers(15, 6 * 60)).map(
                lambda w: (w[0], w[0] + dt.timedelta(minutes=w[1]))
            ),
            max_size=2,
        )
    )
    values: dict[str, object] = {
        "job_id": uuid.uuid4(),
        "place": draw(LYON),
        "duration": dt.timedelta(minutes=draw(st.integers(1, 4 * 60))),
        "windows": tuple(windows),
        "resolve_by": draw(st.none() | OFFSET),
        "planned_start": draw(st.none() | OFFSET),
    }
    if live == "on_site":
        values["arrived_at"] = NOW - dt.timedelta(minutes=draw(st.integers(0, 5 * 60)))
    elif live == "en_route":
        values["set_out_at"] = NOW - dt.timedelta(minutes=draw(st.integers(0, 2 * 60)))
        values["set_out_from"] = draw(LYON)
    return Stop(**values)  # type: ignore[arg-type]


@st.composite
def routes(draw: st.DrawFn) -> list[Stop]:
    under_way = draw(
        st.lists(stops(live="on_site"), max_size=1) | st.lists(stops(live="en_route"), max_size=1)
    )
    return [*under_way, *draw(st.lists(stops(), max_size=6))]


@given(route=routes(), start=LYON)
def test_arrivals_never_go_back_along_the_route_and_nothing_is_reached_before_now(
    route: list[Stop], start: Point
) -> None:
    predictions = predict(route, start=start, now=NOW)
    assert [p.stop for p in predictions] == walk_order(route)
    upcoming = [p for p in predictions if not p.stop.reached]
    for p in upcoming:
        assert p.arrival >= NOW
    for before, after in itertools.pairwise(upcoming):
        assert after.arrival >= before.finish
    for p in predictions:
        assert p.finish >= p.arrival
        assert p.finish >= NOW


@given(
    route=routes(), start=LYON, delay=st.integers(1, 5 * 60), how=st.sampled_from(["now", "overrun", "late"])
)
def test_a_technician_running_later_never_makes_a_job_earlier(
    route: list[Stop], start: Point, delay: int, how: str
) -> None:
    """Later now, a longer job under way, a later arrival or set-out: every prediction is the same or later, and
    no job that was late becomes on time."""
    later = dt.timedelta(minutes=delay)
    now, delayed = NOW, list(route)
    if how == "now":
        now = NOW + later
    elif route and how == "overrun":
        delayed[0] = dataclasses.replace(route[0], duration=route[0].duration + later)
    elif route and route[0].arrived_at is not None:
        delayed[0] = dataclasses.replace(route[0], arrived_at=route[0].arrived_at + later)
    elif route and route[0].set_out_at is not None:
        delayed[0] = dataclasses.replace(route[0], set_out_at=route[0].set_out_at + later)
    before = by_job(predict(route, start=start, now=NOW))
    after = by_job(predict(delayed, start=start, now=now))
    for job_id, was in before.items():
        assert after[job_id].arrival >= was.arrival
        assert after[job_id].finish >= was.finish
        if was.late_by is not None:
            late_by = after[job_id].late_by
            assert late_by is not None
            assert late_by >= was.late_by
