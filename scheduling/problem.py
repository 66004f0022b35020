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
    # Time the technician may work past `end`, at the overtime cost of the weights.
    overtime: NonNegative = 0
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
    """Work that must stay with its shift (dispatched or under way); `sequence` orders pinned visits.

    With `start`, the visit is frozen: it starts exactly then (work under way, or promised before the freeze).
    """

    shift: str
    sequence: NonNegative = 0
    start: NonNegative | None = None


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
    # Soft: the customer would rather these technicians came, and the visit started inside this window.
    preferred_technicians: tuple[str, ...] = ()
    preferred_window: Window | None = None
    # The SLA deadline on the problem clock: leaving the job out costs more the closer it is.
    due: NonNegative | None = None
    pin: Pin | None = None


class Weights(Struct, frozen=True):
    """The soft goals' weights, per unit: of time for times, of distance for distance, per job for the others."""

    travel_time: NonNegative = 1
    distance: NonNegative = 0
    # Per unit of a route's span (first departure to return): waiting and idle time are what it adds to travel.
    span: NonNegative = 0
    overtime: NonNegative = 10
    # Per unit of time a visit starts after the end of its preferred window.
    lateness: NonNegative = 1
    # Per job done by a technician other than a preferred one.
    preferred_technician: NonNegative = 600
    # Per skill level a technician holds above what the job needs.
    over_qualification: NonNegative = 60
    # Per job a route carries above an even share of the assigned jobs.
    fairness: NonNegative = 0
    # Per route used.
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
    # Re-planning during the day: no visit that is not frozen (pinned with a start) may start before this.
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
    shift_bounds: dict[str, tuple[int, int]] = {}
    for t in p.technicians:
        if t.id in tech_ids:
            raise ProblemError(f"technician {t.id!r}: id used twice")
        tech_ids.add(t.id)
        for s in t.shifts:
            where = f"technician {t.id!r} shift {s.id!r}"
            if s.id in shift_ids:
                raise ProblemError(f"{where}: shift id used twice")
            shift_ids.add(s.id)
            shift_bounds[s.id] = (s.start, s.end + s.overtime)
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
            ("preferred_technicians", j.preferred_technicians),
        ):
            for tid in ids:
                if tid not in tech_ids:
                    raise ProblemError(f"{where}: {field} names unknown technician {tid!r}")
        if j.preferred_window is not None and j.preferred_window.end < j.preferred_window.start:
            raise ProblemError(f"{where} preferred_window: ends before it starts")
        if j.pin is not None:
            if j.pin.shift not in shift_ids:
                raise ProblemError(f"{where}: pinned to unknown shift {j.pin.shift!r}")
            bounds = shift_bounds[j.pin.shift]
            if j.pin.start is not None and not bounds[0] <= j.pin.start <= bounds[1]:
                raise ProblemError(f"{where}: frozen start {j.pin.start} lies outside shift {j.pin.shift!r}")


problem_decoder = msgspec.json.Decoder(Problem)


def load_problem(data: bytes) -> Problem:
    """Decode and validate; both kinds of failure are a ProblemError naming the place at fault."""
    try:
        return problem_decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise ProblemError(str(exc)) from exc
