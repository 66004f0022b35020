"""The scheduling problem, validated at construction: who can work when and where, and what must be done.

All times are integer seconds (or any integer unit, as long as one is used throughout) on one clock; the API
turns datetimes into offsets from the start of the horizon. Places are indices into `locations`.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

NonNegative = Annotated[int, msgspec.Meta(ge=0)]
Level = Annotated[int, msgspec.Meta(ge=1, le=5)]


class ProblemError(ValueError):
    """The problem contradicts itself; the message names the object and the field at fault."""


class Struct(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class Location(Struct, frozen=True):
    """Planar coordinates for `metric="euclidean"`, latitude/longitude in degrees for `metric="geodesic"`."""

    x: float
    y: float


class Window(Struct, frozen=True):
    """A visit may start at any time from `start` to `end`, both included."""

    start: NonNegative
    end: NonNegative


class Break(Struct, frozen=True):
    """A pause of `duration` taken entirely between `earliest_start` and `latest_end`."""

    earliest_start: NonNegative
    latest_end: NonNegative
    duration: Annotated[int, msgspec.Meta(gt=0)]


class Shift(Struct, frozen=True):
    id: str
    start: NonNegative
    end: NonNegative
    start_location: NonNegative
    end_location: NonNegative
    breaks: tuple[Break, ...] = ()
    max_travel: NonNegative | None = None
    capacity: NonNegative | None = None


class Technician(Struct, frozen=True):
    id: str
    skills: dict[str, Level] = {}
    shifts: tuple[Shift, ...] = ()


class SkillNeed(Struct, frozen=True):
    skill: str
    level: Level = 1


class Pin(Struct, frozen=True):
    """Work that must stay with its shift (dispatched or under way); `sequence` orders pinned visits."""

    shift: str
    sequence: NonNegative = 0


class Job(Struct, frozen=True):
    id: str
    location: NonNegative
    duration: NonNegative
    windows: tuple[Window, ...] = ()
    skills: tuple[SkillNeed, ...] = ()
    # 0 lowest .. 3 highest; dropping a job costs more the higher this is.
    priority: Annotated[int, msgspec.Meta(ge=0, le=3)] = 1
    demand: NonNegative = 0
    required_technicians: tuple[str, ...] = ()
    excluded_technicians: tuple[str, ...] = ()
    pin: Pin | None = None


class Weights(Struct, frozen=True):
    travel_time: NonNegative = 1
    distance: NonNegative = 0
    waiting: NonNegative = 0
    vehicle: NonNegative = 0


class Problem(Struct, frozen=True):
    locations: tuple[Location, ...]
    technicians: tuple[Technician, ...]
    jobs: tuple[Job, ...]
    metric: Literal["euclidean", "geodesic"] = "euclidean"
    # Geodesic only: metres of road per metre as the crow flies, and the average speed in metres per time unit.
    road_factor: Annotated[float, msgspec.Meta(ge=1.0)] = 1.3
    speed: Annotated[float, msgspec.Meta(gt=0)] = 8.33
    # Euclidean only: the travel time of one unit of distance.
    time_per_distance: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    weights: Weights = Weights()
    # Nothing starting before this moves (re-planning during the day).
    freeze_time: NonNegative | None = None

    def __post_init__(self) -> None:
        _check(self)

    @property
    def shifts(self) -> list[tuple[Technician, Shift]]:
        return [(t, s) for t in self.technicians for s in t.shifts]


def _check(p: Problem) -> None:
    n = len(p.locations)
    if p.metric == "geodesic":
        for i, loc in enumerate(p.locations):
            if not (-90 <= loc.x <= 90 and -180 <= loc.y <= 180):
                raise ProblemError(
                    f"locations[{i}]: latitude must be in [-90, 90] and longitude in [-180, 180]"
                )
    tech_ids: set[str] = set()
    shift_ids: set[str] = set()
    for t in p.technicians:
        if t.id in tech_ids:
            raise ProblemError(f"technician {t.id!r}: id used twice")
        tech_ids.add(t.id)
        for s in t.shifts:
            where = f"technician {t.id!r} shift {s.id!r}"
            if s.id in shift_ids:
                raise ProblemError(f"{where}: shift id used twice")
            shift_ids.add(s.id)
            if s.end < s.start:
                raise ProblemError(f"{where}: ends ({s.end}) before it starts ({s.start})")
            for field, place in (("start_location", s.start_location), ("end_location", s.end_location)):
                if place >= n:
                    raise ProblemError(f"{where}: {field} {place} is not one of the {n} locations")
            for k, b in enumerate(s.breaks):
                if b.latest_end < b.earliest_start + b.duration:
                    raise ProblemError(f"{where} breaks[{k}]: {b.duration} does not fit between its bounds")
                if b.earliest_start < s.start or b.latest_end > s.end:
                    raise ProblemError(f"{where} breaks[{k}]: lies outside the shift")
    job_ids: set[str] = set()
    for j in p.jobs:
        where = f"job {j.id!r}"
        if j.id in job_ids:
            raise ProblemError(f"{where}: id used twice")
        job_ids.add(j.id)
        if j.location >= n:
            raise ProblemError(f"{where}: location {j.location} is not one of the {n} locations")
        previous_end = -1
        for k, w in enumerate(j.windows):
            if w.end < w.start:
                raise ProblemError(f"{where} windows[{k}]: ends ({w.end}) before it starts ({w.start})")
            if w.start <= previous_end:
                raise ProblemError(f"{where} windows[{k}]: windows must be sorted and must not overlap")
            previous_end = w.end
        for field, ids in (
            ("required_technicians", j.required_technicians),
            ("excluded_technicians", j.excluded_technicians),
        ):
            for tid in ids:
                if tid not in tech_ids:
                    raise ProblemError(f"{where}: {field} names unknown technician {tid!r}")
        if j.pin is not None and j.pin.shift not in shift_ids:
            raise ProblemError(f"{where}: pinned to unknown shift {j.pin.shift!r}")


problem_decoder = msgspec.json.Decoder(Problem)


def load_problem(data: bytes) -> Problem:
    """Decode and validate; both kinds of failure are a ProblemError naming the place at fault."""
    try:
        return problem_decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise ProblemError(str(exc)) from exc
