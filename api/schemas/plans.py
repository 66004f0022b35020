"""Plans on the wire: asking for one, reviewing it, editing and publishing it."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import msgspec

from api.schemas.base import AwareDatetime, Read, ShortText, Write
from domain.enums import PlanKind, PlanState, Priority

TimeLimit = Annotated[float, msgspec.Meta(ge=0.5, le=300)]


class PlanIn(Write, frozen=True):
    """Plan a territory for a day (or a few days from it), solving for at most `time_limit_s` seconds."""

    territory_id: uuid.UUID
    day: dt.date
    days: Annotated[int, msgspec.Meta(ge=1, le=7)] = 1
    time_limit_s: TimeLimit = 10.0
    note: ShortText | None = None


class ReoptimizeIn(Write, frozen=True):
    time_limit_s: TimeLimit = 10.0


class MoveIn(Write, frozen=True, tag_field="action", tag="move"):
    """Give the job to the technician (on their shift of that day), at `position` in their route (0 first)."""

    job_id: uuid.UUID
    technician_id: uuid.UUID
    position: Annotated[int, msgspec.Meta(ge=0, le=1000)] | None = None


class UnassignIn(Write, frozen=True, tag_field="action", tag="unassign"):
    job_id: uuid.UUID


class PinIn(Write, frozen=True, tag_field="action", tag="pin"):
    """Keep the job with its technician, in its place, when the plan is re-optimized; with `technician_id`, move
    it to that technician (at `position`) first."""

    job_id: uuid.UUID
    technician_id: uuid.UUID | None = None
    position: Annotated[int, msgspec.Meta(ge=0, le=1000)] | None = None


EditIn = MoveIn | UnassignIn | PinIn


class ProgressOut(Read, frozen=True):
    elapsed_s: float | None
    best_objective: float | None
    assigned: int | None


class StopOut(Read, frozen=True):
    job_id: uuid.UUID
    sequence: int
    description: str
    priority: Priority
    customer: str
    address: str
    latitude: float
    longitude: float
    arrival: dt.datetime
    start: dt.datetime
    end: dt.datetime
    travel_s: int
    waiting_s: int
    pinned: bool


class BreakOut(Read, frozen=True):
    start: dt.datetime
    end: dt.datetime


class RouteOut(Read, frozen=True):
    technician_id: uuid.UUID
    technician: str
    shift_id: uuid.UUID
    start: dt.datetime
    end: dt.datetime
    travel_s: int
    distance_m: float
    stops: list[StopOut]
    breaks: list[BreakOut]


class UnassignedOut(Read, frozen=True):
    job_id: uuid.UUID
    description: str
    customer: str
    address: str
    reasons: list[str]


class ChangeOut(Read, frozen=True):
    """How the plan differs, for one job, from what is published now (the jobs' current assignments)."""

    job_id: uuid.UUID
    change: Literal["new", "moved", "dropped"]
    from_technician_id: uuid.UUID | None
    to_technician_id: uuid.UUID | None


class TotalsOut(Read, frozen=True):
    assigned: int
    unassigned: int
    travel_s: int
    waiting_s: int
    distance_m: float
    technicians_used: int


class SlaRiskOut(Read, frozen=True):
    """A planned visit that ends after the job's resolve-by deadline."""

    job_id: uuid.UUID
    resolve_by: dt.datetime
    planned_end: dt.datetime


class EmergencyIn(Write, frozen=True):
    job_id: uuid.UUID
    time_limit_s: TimeLimit = 5.0


class AbsenceIn(Write, frozen=True):
    technician_id: uuid.UUID
    day: dt.date | None = None
    time_limit_s: TimeLimit = 10.0


class OverrunIn(Write, frozen=True):
    job_id: uuid.UUID
    expected_end: AwareDatetime


class PlanOut(Read, frozen=True):
    id: uuid.UUID
    territory_id: uuid.UUID
    day: dt.date
    days: int
    kind: PlanKind
    state: PlanState
    version: int
    time_limit_s: float
    note: str | None
    base_plan_id: uuid.UUID | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    published_at: dt.datetime | None
    progress: ProgressOut
    error: str | None
    routes: list[RouteOut]
    unassigned: list[UnassignedOut]
    set_aside: dict[str, str]
    totals: TotalsOut | None
    objective: dict[str, int]
    changes: list[ChangeOut]
    sla_risks: list[SlaRiskOut]


class PlanSummaryOut(Read, frozen=True):
    id: uuid.UUID
    territory_id: uuid.UUID
    day: dt.date
    kind: PlanKind
    state: PlanState
    version: int
    created_at: dt.datetime
    assigned: int | None


class PublishOut(Read, frozen=True):
    plan: PlanOut
    assignments_written: int
    notifications_queued: int


class ViolationOut(Read, frozen=True):
    rule: str
    subject: str
    message: str


GeoJSON = dict[str, Any]


class SlotOut(Read, frozen=True):
    """A candidate appointment window: whether it fits the day as it stands, and at what cost in added travel."""

    starts_at: dt.datetime
    ends_at: dt.datetime
    feasible: bool
    cost_s: int | None
    technician_id: uuid.UUID | None
    planned_start: dt.datetime | None


class BookIn(Write, frozen=True):
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    # Offer the slot for the customer to confirm through their link, instead of confirming it now.
    offer: bool = False


class BookingOut(Read, frozen=True):
    job_id: uuid.UUID
    status: str
    slot: SlotOut
