"""Predicted arrivals along a technician's route: pure, from the route as published and what is known live.

The walk starts where the technician is now. A job they are on site at finishes when its duration is up (never
before now); a job they set out for is reached after the drive from where they set out (never before now); every
other job follows the one before it, after the drive, and not before its window opens. Breaks are not counted: the
prediction is the earliest the day can go, so a warning from it is never a false alarm about a break.

Nothing here reads the database (domain.services.warnings does): a route is a list of `Stop`s, the result a list
of `Prediction`s, and the rules each have a test where they hold.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from domain.travel import Point, drive_time

Travel = Callable[[Point, Point], dt.timedelta]
Window = tuple[dt.datetime, dt.datetime]


@dataclass(frozen=True, slots=True)
class Stop:
    """One job of the route, with its promise to the customer and what the technician reported about it."""

    job_id: uuid.UUID
    place: Point
    duration: dt.timedelta
    # When the customer accepts the visit: the standing appointment's window, else the job's own windows.
    windows: tuple[Window, ...] = ()
    resolve_by: dt.datetime | None = None
    planned_start: dt.datetime | None = None
    # Live: when (and from where) the technician set out for it, or when they arrived.
    set_out_at: dt.datetime | None = None
    set_out_from: Point | None = None
    arrived_at: dt.datetime | None = None

    @property
    def reached(self) -> bool:
        return self.arrived_at is not None

    @property
    def on_the_way(self) -> bool:
        return not self.reached and self.set_out_at is not None

    @property
    def window_end(self) -> dt.datetime | None:
        """The end of the promise: the last window's end."""
        return max((end for _, end in self.windows), default=None)

    def opens_at(self, ready: dt.datetime) -> dt.datetime:
        """The earliest moment from `ready` on inside a window; `ready` itself when no window is left (late) or
        there are none."""
        for start, end in sorted(self.windows):
            if ready <= end:
                return max(ready, start)
        return ready


@dataclass(frozen=True, slots=True)
class Prediction:
    stop: Stop
    arrival: dt.datetime
    finish: dt.datetime

    @property
    def window_missed_by(self) -> dt.timedelta | None:
        """How far the arrival is past the promised window; None when it is within, or already happened."""
        end = self.stop.window_end
        if self.stop.reached or end is None or self.arrival <= end:
            return None
        return self.arrival - end

    @property
    def resolve_missed_by(self) -> dt.timedelta | None:
        """How far the finish is past the SLA's resolve-by; None when it is before."""
        due = self.stop.resolve_by
        if due is None or self.finish <= due:
            return None
        return self.finish - due

    @property
    def late_by(self) -> dt.timedelta | None:
        misses = [d for d in (self.window_missed_by, self.resolve_missed_by) if d is not None]
        return max(misses, default=None)


def minutes(delta: dt.timedelta) -> int:
    """Whole minutes, rounded up: a warning says "1 min late" for a few seconds, never "0 min late"."""
    return math.ceil(delta.total_seconds() / 60)


def walk_order(route: Sequence[Stop]) -> list[Stop]:
    """The technician does what they are at first: the jobs they are on site at, then the one they are driving
    to, then the rest in the order given (the published route's)."""
    return sorted(route, key=lambda s: 0 if s.reached else 1 if s.on_the_way else 2)


def predict(
    route: Sequence[Stop], *, start: Point, now: dt.datetime, travel: Travel = drive_time
) -> list[Prediction]:
    """Every stop's predicted arrival and finish, in walk order; `start` is where the technician is when they are
    at no job (the last site they finished, or home)."""
    place, free_at = start, now
    predictions = []
    for stop in walk_order(route):
        if stop.arrived_at is not None:
            arrival = stop.arrived_at
            finish = max(now, arrival + stop.duration)
        elif stop.set_out_at is not None:
            arrival = max(now, stop.set_out_at + travel(stop.set_out_from or place, stop.place))
            finish = arrival + stop.duration
        else:
            arrival = stop.opens_at(free_at + travel(place, stop.place))
            finish = arrival + stop.duration
        # Two jobs under way at once (a move the office made for them) still leave the technician free only after
        # the later one: no prediction after it goes back in time.
        free_at = max(free_at, finish)
        place = stop.place
        predictions.append(Prediction(stop, arrival, finish))
    return predictions


@dataclass(frozen=True, slots=True)
class Behind:
    """The technician is behind the published plan at `stop`, the first job they have not reached."""

    stop: Stop
    planned_start: dt.datetime
    predicted_arrival: dt.datetime
    # Not on the way yet although they should have set out.
    not_set_out: bool

    @property
    def late_by(self) -> dt.timedelta:
        return self.predicted_arrival - self.planned_start


def behind_plan(predictions: Sequence[Prediction], *, now: dt.datetime, grace: dt.timedelta) -> Behind | None:
    """Whether the first job not yet reached will be reached more than `grace` after its planned start, or is not
    set out for `grace` after it."""
    upcoming = next((p for p in predictions if not p.stop.reached), None)
    if upcoming is None or upcoming.stop.planned_start is None:
        return None
    planned = upcoming.stop.planned_start
    not_set_out = not upcoming.stop.on_the_way and now > planned + grace
    if upcoming.arrival > planned + grace or not_set_out:
        return Behind(upcoming.stop, planned, upcoming.arrival, not_set_out)
    return None
