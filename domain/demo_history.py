"""Six weeks of past activity for the demo, so that the KPI pages mean something on the first run.

Every working day before today (in the demo's time zone): each technician's shift with its break, and the day's
visits as they happened. Requests arrive through every channel and are answered (phone and chat within minutes,
e-mail, web and app within hours, a few after their respond-by); each job is classified and priced from its
service type, booked into a confirmed window, dispatched, worked and completed, with its full status trail and a
`JobCompletion` (outcome, time on site, travel time and distance, sign-off). Some arrivals miss their window, some
first visits need a follow-up job, some jobs are reopened and visited again, some are cancelled; most completed
jobs are rated, a few bring complaints (most handled, a few still open, two near or past a deadline, the odd one
reworked). Emergency call-outs on Tuesday and Thursday nights run past midnight. Territories and service types
differ (Lyon South arrives late more often and is rated lower; boiler and appliance repairs need more follow-ups)
and satisfaction and punctuality improve over the weeks, so the trends and the "worst of" lists show something.

The history is finished work only (completed, closed or cancelled), so it never enters a plan, the dispatcher's
board or a technician's sync scope, and it carries no field evidence (notes, photos, signatures, seals) nor
messages. It is written with bulk inserts, which bypass the unit of work: the audit chain gets one entry per table
saying how many rows the demo loaded, and the sync change feed none (no device holds these jobs). Deterministic
for a given day and seed.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import math
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from domain import audit, changes
from domain import models as m
from domain.classification import DEFAULT_SLA, deadlines
from domain.enums import (
    AppointmentStatus,
    Channel,
    ComplaintActionKind,
    ComplaintCategory,
    ComplaintStatus,
    CompletionOutcome,
    JobStatus,
    Priority,
    SignOff,
)
from domain.kpis import stale
from domain.principal import SYSTEM_ACTOR
from domain.services.complaints import DEFAULT_POLICY
from domain.travel import AVERAGE_SPEED_M_PER_S, DETOUR_FACTOR

HISTORY_DAYS = 42
EARTH_RADIUS_M = 6_371_009  # geopy's, which domain.travel uses
SECOND = dt.timedelta(seconds=1)
MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
# The office answers Monday to Saturday, 08:00 to 19:00 (minutes from midnight); requests wait for it to open.
OFFICE_OPENS, OFFICE_CLOSES = 8 * 60, 19 * 60
FINISHED = (JobStatus.COMPLETED, JobStatus.CLOSED, JobStatus.CANCELLED)
# Visits run longer than the catalogue's durations (which the planner assumes) by this much on the whole.
OVERRUN = 1.2

Point = tuple[float, float]
Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Tech:
    id: uuid.UUID
    user_id: uuid.UUID
    territory: int
    home: Point
    skills: dict[uuid.UUID, int]
    part_time: bool


@dataclass(frozen=True, slots=True)
class Kind:
    """A service type as the history uses it."""

    id: uuid.UUID
    code: str
    duration_s: int
    priority: Priority
    needs: tuple[tuple[uuid.UUID, int], ...]
    price_cents: int | None
    checklist: tuple[str, ...]
    parts: tuple[str, ...]
    tools: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Place:
    id: uuid.UUID
    customer_id: uuid.UUID
    territory: int
    point: Point


@dataclass(frozen=True, slots=True)
class World:
    """What the history is made of: the demo's territories, people, catalogue and customers' sites."""

    today: dt.date
    timezone: str
    territory_ids: tuple[uuid.UUID, ...]
    territory_codes: tuple[str, ...]
    dispatcher_ids: tuple[uuid.UUID, ...]  # the local dispatcher of each territory
    technicians: tuple[Tech, ...]
    kinds: tuple[Kind, ...]
    places: tuple[Place, ...]
    descriptions: dict[str, list[str]]


@dataclass(frozen=True, slots=True)
class _Territory:
    late: float  # chance an arrival misses its window (in the first week; much less by the last)
    slow: float  # chance a request is answered after its respond-by
    rating: float  # added to the mean score
    traffic: float  # travel time factor
    reopen: float


TERRITORY_TRAITS = {
    "lyon-north": _Territory(late=0.1, slow=0.02, rating=0.15, traffic=1.0, reopen=0.015),
    "lyon-centre": _Territory(late=0.2, slow=0.035, rating=0.0, traffic=1.35, reopen=0.02),
    "lyon-south": _Territory(late=0.45, slow=0.07, rating=-0.3, traffic=1.1, reopen=0.045),
}
_ORDINARY = _Territory(late=0.08, slow=0.03, rating=0.0, traffic=1.1, reopen=0.02)


@dataclass(frozen=True, slots=True)
class _Trait:
    weight: int  # how common, in an autumn: boilers busy, air conditioning quiet
    follow_up: float  # chance a first visit ends needing another
    on_site: tuple[float, float]  # time on site, as factors of the default duration
    rating: float
    follow_up_reasons: tuple[str, ...]
    summaries: tuple[str, ...]


TYPE_TRAITS = {
    "boiler-service": _Trait(
        12,
        0.02,
        (0.8, 1.25),
        0.2,
        ("Heat exchanger needs descaling",),
        ("Annual service done, all in order",),
    ),
    "boiler-repair": _Trait(
        12,
        0.2,
        (0.8, 1.7),
        -0.2,
        ("Gas valve on order", "Printed circuit board to replace", "Pump seized, replacement on order"),
        ("Ignition electrode replaced, boiler running", "Pressure sensor replaced, heating back"),
    ),
    "ac-repair": _Trait(
        4,
        0.12,
        (0.9, 1.5),
        -0.35,
        ("Compressor to replace", "Refrigerant leak to locate with a nitrogen test"),
        ("Capacitor replaced, cooling verified",),
    ),
    "electrical-fault": _Trait(
        11,
        0.06,
        (0.7, 1.5),
        0.0,
        ("Consumer unit to replace",),
        ("Faulty socket replaced, circuit tested", "RCD replaced, no more tripping"),
    ),
    "ev-charger": _Trait(
        3,
        0.05,
        (0.9, 1.3),
        0.1,
        ("Supply upgrade needed from the network operator",),
        ("Wallbox installed and commissioned",),
    ),
    "leak-repair": _Trait(
        11,
        0.07,
        (0.7, 1.6),
        0.0,
        ("Pipe section inside the wall to replace",),
        ("Leaking joint remade, pressure-tested", "Burst pipe section replaced"),
    ),
    "drain-unblock": _Trait(
        9, 0.03, (0.6, 1.3), 0.1, ("Camera inspection of the drain needed",), ("Drain cleared, flow tested",)
    ),
    "appliance-repair": _Trait(
        11,
        0.16,
        (0.8, 1.4),
        -0.15,
        ("Drain pump on order", "Control board on order"),
        ("Door seal replaced, appliance tested", "Drain pump cleaned, appliance tested"),
    ),
    "lock-change": _Trait(
        7, 0.01, (0.6, 1.2), 0.25, ("Door frame to repair",), ("Cylinder changed, keys handed over",)
    ),
}
_PLAIN = _Trait(5, 0.05, (0.8, 1.4), 0.0, ("Part on order",), ("Work done and tested",))

CHANNELS = (Channel.PHONE, Channel.EMAIL, Channel.WEB, Channel.CHAT, Channel.APP)
CHANNEL_WEIGHTS = (35, 15, 20, 10, 20)
# How long before the visit the request came in, in hours, by priority.
LEAD_HOURS = {
    Priority.URGENT: (0.75, 3.5),
    Priority.HIGH: (2.0, 18.0),
    Priority.NORMAL: (8.0, 60.0),
    Priority.LOW: (24.0, 150.0),
}
# The windows offered to customers, in minutes from local midnight.
SLOTS = ((480, 600), (600, 720), (780, 900), (900, 1020), (480, 720), (780, 1020))

GOOD_COMMENTS = (
    "Quick and friendly, thank you",
    "Very professional, explained everything",
    "On time and tidy work",
    "Problem solved in no time",
    None,
    None,
    None,
)
MIXED_COMMENTS = ("Fine, but the window was long", "Work OK, communication could be better", None)
BAD_COMMENTS = (
    "The technician arrived late and did not call",
    "Had to take another day off for a second visit",
    "The problem came back the next day",
    "Left a mess behind",
    "Expensive for what was done",
)
COMPLAINTS = {
    ComplaintCategory.SERVICE: (
        "The technician came long after the window we were promised",
        "Nobody told us the visit was delayed",
        "The technician was rude and left without cleaning up",
    ),
    ComplaintCategory.TECHNICAL: (
        "The fault is back two days after the repair",
        "The repair does not hold, water is dripping again",
        "Still no hot water despite the visit",
    ),
    ComplaintCategory.BILLING: (
        "Charged for a part that was not fitted",
        "The invoice is higher than the quote",
        "Charged twice for the same visit",
    ),
}
RESOLUTIONS = {
    ComplaintCategory.SERVICE: "Apologised and offered a discount on the next service",
    ComplaintCategory.TECHNICAL: "The technician went back and fixed the fault at no charge",
    ComplaintCategory.BILLING: "Invoice corrected and the difference refunded",
}
CANCEL_REASONS = (
    "customer cancelled: fixed it themselves",
    "duplicate request",
    "customer no longer available, will call back",
    "customer chose another company",
)

# Written in this order (every reference points to an earlier table, or an earlier row of the same one).
TABLES: dict[str, Any] = {
    "shifts": m.Shift,
    "shift_breaks": m.ShiftBreak,
    "service_requests": m.ServiceRequest,
    "jobs": m.Job,
    "job_required_skills": m.JobRequiredSkill,
    "job_time_windows": m.JobTimeWindow,
    "appointments": m.Appointment,
    "assignments": m.Assignment,
    "job_status_events": m.JobStatusEvent,
    "job_completions": m.JobCompletion,
    "ratings": m.Rating,
    "complaints": m.Complaint,
    "complaint_actions": m.ComplaintAction,
}


def _road_metres(a: Point, b: Point) -> int:
    """domain.travel.road_metres (great circle, same radius, times the detour factor) without geopy's overhead, which
    was most of the time it took to build the history."""
    lat1, lng1, lat2, lng2 = map(math.radians, (*a, *b))
    delta = lng2 - lng1
    central = math.atan2(
        math.hypot(
            math.cos(lat2) * math.sin(delta),
            math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(delta),
        ),
        math.sin(lat1) * math.sin(lat2) + math.cos(lat1) * math.cos(lat2) * math.cos(delta),
    )
    return round(EARTH_RADIUS_M * central * DETOUR_FACTOR)


def _base(row_id: uuid.UUID, at: dt.datetime) -> Row:
    return {"id": row_id, "created_at": at, "updated_at": at}


@dataclass
class _Job:
    """A history job while it is lived: its row, and what its later steps need to know."""

    row: Row
    kind: Kind
    place: Place
    channel: Channel
    trait: _Trait
    territory: _Territory
    last: dt.datetime  # when its last status event happened
    appointment: Row | None = None
    assignment: Row | None = None
    completions: list[Row] = field(default_factory=list)
    late: bool = False
    reopened: bool = False
    complaint: Row | None = None  # the complaint a rework job answers

    @property
    def id(self) -> uuid.UUID:
        job_id: uuid.UUID = self.row["id"]
        return job_id

    @property
    def status(self) -> JobStatus | None:
        status: JobStatus | None = self.row["status"]
        return status


@dataclass
class _Revisit:
    job: _Job
    due: dt.date
    after: dt.datetime  # not booked before this moment


class History:
    """Lives the demo's past day by day, in memory, as rows for each table (`seed_history` writes them)."""

    def __init__(self, world: World, *, rng_seed: int, now: dt.datetime) -> None:
        self.world = world
        self.rng = random.Random(f"demo-history-{rng_seed}")  # noqa: S311 (a demo, not a secret)
        self.zone = ZoneInfo(world.timezone)
        self.today = world.today
        # Nothing in the history happens after the start of today (nor after now, seeding for a future day).
        self.cutoff = min(self._at(world.today, 0), now)
        calendar = [world.today - dt.timedelta(days=n) for n in range(HISTORY_DAYS, 0, -1)]
        self.days = [d for d in calendar if d.weekday() < 5]
        self.first_day, self.last_day = self.days[0], self.days[-1]
        self.rows: dict[str, list[Row]] = {name: [] for name in TABLES}
        self.jobs: list[_Job] = []
        self.revisits: list[_Revisit] = []
        self.places = [[p for p in world.places if p.territory == t] for t in range(len(world.territory_ids))]
        self.counts = {"late_arrivals": 0, "follow_ups": 0, "reopened": 0}

    # Time ---------------------------------------------------------------------------------------------------------

    def _at(self, day: dt.date, minutes: float) -> dt.datetime:
        """`minutes` after local midnight of `day` on the wall clock (past 24 h is the next day), in UTC."""
        local = dt.datetime(day.year, day.month, day.day, tzinfo=self.zone) + dt.timedelta(minutes=minutes)
        return local.astimezone(dt.UTC)

    def _office(self, moment: dt.datetime) -> dt.datetime:
        """The moment, or a little after the office next opens if it is closed then."""
        local = moment.astimezone(self.zone)
        minutes = local.hour * 60 + local.minute
        if local.weekday() < 6 and OFFICE_OPENS <= minutes < OFFICE_CLOSES:
            return moment
        day = local.date() + (DAY if minutes >= OFFICE_CLOSES else dt.timedelta())
        while day.weekday() == 6:
            day += DAY
        return self._at(day, OFFICE_OPENS + self.rng.uniform(5, 50))

    def _trend(self, day: dt.date) -> float:
        """0 on the first day of the history, 1 on the last: things get better over the weeks."""
        return (day - self.first_day).days / max(1, (self.last_day - self.first_day).days)

    @staticmethod
    def _working_days_after(day: dt.date, n: int) -> dt.date:
        while n > 0:
            day += DAY
            if day.weekday() < 5:
                n -= 1
        return day

    def _uid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    # Rows ---------------------------------------------------------------------------------------------------------

    def _move(
        self, job: _Job, to: JobStatus, at: dt.datetime, actor: uuid.UUID | None, reason: str | None = None
    ) -> dt.datetime:
        """Append a status event, at least a second after the job's last; returns when it happened."""
        at = max(at, job.last + SECOND)
        self.rows["job_status_events"].append(
            {
                **_base(self._uid(), at),
                "job_id": job.id,
                "from_status": job.status,
                "to_status": to,
                "actor_user_id": actor,
                "reason": reason,
                "occurred_at": at,
                "reported_at": None,
            }
        )
        job.row.update(status=to, version=job.row["version"] + 1, updated_at=at)
        job.last = at
        return at

    def _new_job(
        self,
        kind: Kind,
        place: Place,
        received: dt.datetime,
        channel: Channel,
        *,
        request_id: uuid.UUID,
        description: str,
        reason: str,
        origin: _Job | None = None,
        origin_kind: str | None = None,
    ) -> _Job:
        due = deadlines(received, DEFAULT_SLA[kind.priority])
        job_id = self._uid()
        row = {
            **_base(job_id, received),
            "service_request_id": request_id,
            "customer_id": place.customer_id,
            "site_id": place.id,
            "territory_id": self.world.territory_ids[place.territory],
            "service_type_id": kind.id,
            "status": None,
            "priority": kind.priority,
            "description": description,
            "duration_s": kind.duration_s,
            "respond_by": due.respond_by,
            "resolve_by": due.resolve_by,
            "checklist": list(kind.checklist),
            "parts": list(kind.parts),
            "tools": list(kind.tools),
            "suggested_service_type_codes": [],
            "origin_job_id": origin.id if origin else None,
            "origin_kind": origin_kind,
            # Coming back is not charged again: a follow-up or rework is worth nothing.
            "value_cents": 0 if origin else kind.price_cents,
            "version": 0,
        }
        self.rows["jobs"].append(row)
        for skill_id, level in kind.needs:
            self.rows["job_required_skills"].append(
                {**_base(self._uid(), received), "job_id": job_id, "skill_id": skill_id, "min_level": level}
            )
        job = _Job(
            row=row,
            kind=kind,
            place=place,
            channel=channel,
            trait=TYPE_TRAITS.get(kind.code, _PLAIN),
            territory=TERRITORY_TRAITS.get(self.world.territory_codes[place.territory], _ORDINARY),
            last=received - SECOND,
        )
        self._move(job, JobStatus.NEW, received, None, reason)
        self.jobs.append(job)
        return job

    def _request(self, place: Place, channel: Channel, received: dt.datetime, description: str) -> uuid.UUID:
        request_id = self._uid()
        spoken = channel in (Channel.PHONE, Channel.CHAT)
        self.rows["service_requests"].append(
            {
                **_base(request_id, received),
                "channel": channel,
                "customer_id": place.customer_id,
                "site_id": place.id,
                "description": description,
                "received_at": received,
                "taken_by_user_id": self.world.dispatcher_ids[place.territory] if spoken else None,
            }
        )
        return request_id

    def _first_contact(self, kind: Kind, place: Place, received: dt.datetime) -> _Job:
        """A new request and its job (classified, priced, in `new`)."""
        rng = self.rng
        channel = rng.choices(CHANNELS, CHANNEL_WEIGHTS)[0]
        if self._office(received) != received:
            # Out of hours an emergency is phoned to the on-call line; anything else is written.
            urgent = kind.priority is Priority.URGENT
            channel = Channel.PHONE if urgent else rng.choice((Channel.WEB, Channel.APP, Channel.EMAIL))
        description = rng.choice(self.world.descriptions.get(kind.code) or [kind.code])
        request_id = self._request(place, channel, received, description)
        return self._new_job(
            kind,
            place,
            received,
            channel,
            request_id=request_id,
            description=description,
            reason=f"intake via {channel}",
        )

    def _book(self, job: _Job, at: dt.datetime, window: tuple[dt.datetime, dt.datetime], tech: Tech) -> None:
        """The response: the window confirmed with the customer, the job assigned and scheduled. A reopened job
        keeps the appointment it had; it changes hands if another technician goes back."""
        at = self._move(
            job, JobStatus.SCHEDULED, at, self.world.dispatcher_ids[job.place.territory], "booked"
        )
        if job.appointment is None:
            job.appointment = {
                **_base(self._uid(), at),
                "job_id": job.id,
                "window_start": window[0],
                "window_end": window[1],
                "status": AppointmentStatus.CONFIRMED,
            }
            self.rows["appointments"].append(job.appointment)
            self.rows["job_time_windows"].append(
                {**_base(self._uid(), at), "job_id": job.id, "starts_at": window[0], "ends_at": window[1]}
            )
        if job.assignment is None:
            job.assignment = {
                **_base(self._uid(), at),
                "job_id": job.id,
                "technician_id": tech.id,
                "planned_start": window[0],
                "sequence": 0,
                "epoch": 1,
            }
            self.rows["assignments"].append(job.assignment)
        elif job.assignment["technician_id"] != tech.id:
            job.assignment.update(technician_id=tech.id, epoch=job.assignment["epoch"] + 1, updated_at=at)

    # Days -----------------------------------------------------------------------------------------------------------

    def build(self) -> History:
        for day in self.days:
            self._day(day)
        # What nobody could take before today (rare: every territory has several technicians for every type): a
        # follow-up or rework the customer declined, a reopened job seen after the last day's rounds.
        for revisit in self.revisits:
            job = revisit.job
            if job.status is JobStatus.REOPENED:
                tech = self._qualified(job, self.world.technicians)[0]
                when = max(self._at(self.last_day, 17 * 60 + 30), revisit.after + HOUR)
                self._visit(job, tech, self.last_day, when, tech.home, 0, revisit.after, trend=1.0)
            else:
                self._move(
                    job, JobStatus.CANCELLED, revisit.after + 2 * HOUR, None, "customer declined the visit"
                )
        self.revisits.clear()
        self._close_completed()
        self._complaints_on_the_edge()
        return self

    def _qualified(self, job: _Job, technicians: Sequence[Tech]) -> list[Tech]:
        return [
            t
            for t in technicians
            if t.territory == job.place.territory and all(t.skills.get(s, 0) >= n for s, n in job.kind.needs)
        ]

    def _day(self, day: dt.date) -> None:
        rng = self.rng
        trend = self._trend(day)
        # About one in sixteen is off (leave, training, sick).
        working = [t for t in self.world.technicians if rng.random() > 0.06]
        # Revisits due go first in someone's day: the qualified technician with the fewest so far.
        due = [r for r in self.revisits if r.due <= day]
        self.revisits = [r for r in self.revisits if r.due > day]
        first: dict[uuid.UUID, list[_Revisit]] = {t.id: [] for t in working}
        for revisit in due:
            candidates = self._qualified(revisit.job, working)
            if not candidates:
                revisit.due = day + DAY
                self.revisits.append(revisit)
                continue
            tech = min(candidates, key=lambda t: (len(first[t.id]), rng.random()))
            first[tech.id].append(revisit)
        for tech in working:
            self._technician_day(tech, day, first[tech.id], trend)
        if day <= self.today - 2 * DAY and day.weekday() in (1, 3):
            self._night_call_out(day, day.toordinal() % len(self.world.territory_ids), trend)
        for territory in range(len(self.world.territory_ids)):
            if rng.random() < 0.7:
                self._cancelled(day, territory)

    def _shift(self, tech: Tech, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
        start, end = (600, 960) if tech.part_time else (480, 1020)
        starts, ends = self._at(day, start), self._at(day, end)
        shift_id = self._uid()
        planned = self._at(day - 7 * DAY, 10 * 60)
        self.rows["shifts"].append(
            {
                **_base(shift_id, planned),
                "technician_id": tech.id,
                "starts_at": starts,
                "ends_at": ends,
                "start_latitude": None,
                "start_longitude": None,
                "end_latitude": None,
                "end_longitude": None,
            }
        )
        if not tech.part_time:
            self.rows["shift_breaks"].append(
                {
                    **_base(self._uid(), planned),
                    "shift_id": shift_id,
                    "earliest_start": self._at(day, 12 * 60),
                    "latest_end": self._at(day, 14 * 60),
                    "duration_s": 45 * 60,
                }
            )
        return starts, ends

    def _technician_day(self, tech: Tech, day: dt.date, revisits: list[_Revisit], trend: float) -> None:
        rng = self.rng
        starts, ends = self._shift(tech, day)
        # Jobs of their own to take on today (besides revisits given to them).
        target = rng.choice((1, 2)) if tech.part_time else rng.choices((1, 2, 3, 4), (10, 50, 35, 5))[0]
        kinds = [k for k in self.world.kinds if all(tech.skills.get(s, 0) >= n for s, n in k.needs)]
        weights = [TYPE_TRAITS.get(k.code, _PLAIN).weight for k in kinds]
        clock = starts + rng.uniform(0, 12) * MINUTE
        position = tech.home
        on_break = tech.part_time
        done = 0
        while revisits or (done < target and kinds):
            if not on_break and clock >= self._at(day, 12 * 60):
                clock += 45 * MINUTE
                on_break = True
            if revisits:
                revisit = revisits.pop(0)
                job, after = revisit.job, revisit.after
            else:
                kind = rng.choices(kinds, weights)[0]
                low, high = LEAD_HOURS[kind.priority]
                job = self._first_contact(
                    kind, rng.choice(self.places[tech.territory]), clock - rng.uniform(low, high) * HOUR
                )
                after = job.last
            position = self._visit(job, tech, day, clock, position, done, after, trend=trend)
            clock = job.last + rng.uniform(3, 12) * MINUTE
            done += 1
            if clock > ends - 30 * MINUTE and not revisits:
                break

    def _night_call_out(self, day: dt.date, territory: int, trend: float) -> None:
        """An emergency taken by whoever is on call, running past midnight."""
        rng = self.rng
        kind = next((k for k in self.world.kinds if k.priority is Priority.URGENT), None)
        if kind is None:
            return
        able = [
            t
            for t in self.world.technicians
            if t.territory == territory
            and not t.part_time
            and all(t.skills.get(s, 0) >= n for s, n in kind.needs)
        ]
        if not able:
            return
        tech = rng.choice(able)
        received = self._at(day, rng.uniform(22 * 60 + 50, 23 * 60 + 20))
        place = rng.choice(self.places[territory])
        description = rng.choice(self.world.descriptions.get(kind.code) or [kind.code])
        request_id = self._request(place, Channel.PHONE, received, description)
        job = self._new_job(
            kind,
            place,
            received,
            Channel.PHONE,
            request_id=request_id,
            description=description,
            reason="intake via phone (on-call line)",
        )
        set_out = received + rng.uniform(15, 25) * MINUTE
        self._visit(job, tech, day, set_out, tech.home, 0, job.last, trend=trend, minimum_on_site=50 * MINUTE)

    def _cancelled(self, day: dt.date, territory: int) -> None:
        """A request for `day` cancelled before the visit: some before booking, some after."""
        rng = self.rng
        kind = rng.choices(
            self.world.kinds, [TYPE_TRAITS.get(k.code, _PLAIN).weight for k in self.world.kinds]
        )[0]
        place = rng.choice(self.places[territory])
        received = self._at(day, OFFICE_OPENS) - rng.uniform(20, 96) * HOUR
        job = self._first_contact(kind, place, received)
        morning = self._at(day, 7 * 60)
        dispatcher = self.world.dispatcher_ids[territory]
        qualified = self._qualified(job, self.world.technicians)
        if qualified and rng.random() < 0.6:
            booked = min(self._office(job.last + self._response_delay(job, 0.5)), morning - HOUR)
            a, b = rng.choice(SLOTS)
            self._book(job, booked, (self._at(day, a), self._at(day, b)), rng.choice(qualified))
        cancel_at = job.last + (morning - job.last) * rng.uniform(0.2, 0.9)
        cancel_at = self._move(job, JobStatus.CANCELLED, cancel_at, dispatcher, rng.choice(CANCEL_REASONS))
        if job.appointment is not None:
            job.appointment.update(status=AppointmentStatus.CANCELLED, updated_at=cancel_at)

    # A visit --------------------------------------------------------------------------------------------------------

    def _response_delay(self, job: _Job, trend: float) -> dt.timedelta:
        """From the request to the booking: minutes on the phone, hours in writing (urgent and high priority
        writing is watched, the rest waits for office hours); now and then too late."""
        rng = self.rng
        spoken = job.channel in (Channel.PHONE, Channel.CHAT)
        pressing = job.kind.priority in (Priority.URGENT, Priority.HIGH)
        if (pressing or not spoken) and rng.random() < job.territory.slow * (1.4 - 0.8 * trend):
            return DEFAULT_SLA[job.kind.priority].respond_within_s * rng.uniform(1.05, 1.6) * SECOND
        if job.channel is Channel.PHONE:
            return rng.uniform(1, 6) * MINUTE if rng.random() < 0.85 else rng.uniform(10, 45) * MINUTE
        if job.channel is Channel.CHAT:
            return rng.uniform(3, 25) * MINUTE
        if pressing:
            return rng.uniform(5, 50) * MINUTE
        return rng.uniform(45, 420) * MINUTE

    def _window(
        self, day: dt.date, arrived: dt.datetime, late: bool
    ) -> tuple[dt.datetime, dt.datetime] | None:
        """The window promised: one holding the arrival or, for a late arrival, one that closed before it."""
        at = (arrived - self._at(day, 0)).total_seconds() / 60
        if late:
            missed = [s for s in SLOTS if at - 120 <= s[1] <= at - 8]
            if not missed:
                return None
            a, b = self.rng.choice(missed)
            return self._at(day, a), self._at(day, b)
        holding = [s for s in SLOTS if s[0] <= at < s[1]]
        if holding:
            a, b = self.rng.choice(holding)
        else:
            a = math.floor(at / 30) * 30 - 60
            b = a + 180
        return self._at(day, a), self._at(day, b)

    def _visit(
        self,
        job: _Job,
        tech: Tech,
        day: dt.date,
        set_out: dt.datetime,
        start: Point,
        sequence: int,
        after: dt.datetime,
        *,
        trend: float,
        minimum_on_site: dt.timedelta = dt.timedelta(),
    ) -> Point:
        """The visit setting out at `set_out`: the booking (unless the job is booked already), the dispatch, the
        journey, the work and the completion, and what follows. Returns where the technician is afterwards."""
        rng = self.rng
        metres = _road_metres(start, job.place.point)
        travel = metres / AVERAGE_SPEED_M_PER_S * job.territory.traffic * rng.uniform(0.9, 1.5) * SECOND
        arrived = set_out + travel + rng.uniform(2, 8) * MINUTE
        late = job.appointment is None and rng.random() < job.territory.late * (1.3 - 0.9 * trend)
        window = self._window(day, arrived, late) if late else None
        late = window is not None
        window = window or self._window(day, arrived, False)
        assert window is not None
        # The booking: the response to a new request, or the office arranging another visit.
        earliest = max(after, job.last) + 30 * SECOND
        if job.row["origin_job_id"] is None and job.status is JobStatus.NEW:
            booked = earliest + self._response_delay(job, trend)
            if job.channel not in (Channel.PHONE, Channel.CHAT) and job.kind.priority in (
                Priority.NORMAL,
                Priority.LOW,
            ):
                booked = self._office(booked)
        else:
            booked = self._office(earliest + rng.uniform(20, 240) * MINUTE)
        latest = set_out - 10 * MINUTE
        if booked > latest:
            booked = earliest + (latest - earliest) * rng.uniform(0.2, 0.6) if latest > earliest else earliest
        self._book(job, booked, window, tech)
        assert job.assignment is not None
        planned = window[0] if late else arrived - rng.uniform(0, 15) * MINUTE
        job.assignment.update(planned_start=planned, sequence=sequence)
        dispatched = self._at(day, rng.uniform(420, 465))
        if dispatched <= job.last:
            dispatched = job.last + rng.uniform(1, 10) * MINUTE
        if dispatched >= set_out:
            dispatched = job.last + (set_out - job.last) / 2
        self._move(
            job,
            JobStatus.DISPATCHED,
            dispatched,
            self.world.dispatcher_ids[job.place.territory],
            "plan published",
        )
        set_out = self._move(job, JobStatus.EN_ROUTE, set_out, tech.user_id)
        arrived = self._move(job, JobStatus.ON_SITE, arrived, tech.user_id)
        self._move(job, JobStatus.IN_PROGRESS, arrived + rng.uniform(1, 6) * MINUTE, tech.user_id)
        low, high = job.trait.on_site
        work = max(job.kind.duration_s * OVERRUN * rng.uniform(low, high) * SECOND, minimum_on_site)
        completed = self._move(job, JobStatus.COMPLETED, arrived + work, tech.user_id)
        if not job.completions:
            job.late = late
            self.counts["late_arrivals"] += late
        self._complete(job, tech, day, set_out, arrived, completed, metres, trend)
        return job.place.point

    def _complete(
        self,
        job: _Job,
        tech: Tech,
        day: dt.date,
        set_out: dt.datetime,
        arrived: dt.datetime,
        completed: dt.datetime,
        metres: int,
        trend: float,
    ) -> None:
        rng = self.rng
        first = not job.completions and job.row["origin_job_id"] is None
        # A follow-up is asked for only when the next visit still falls before today.
        revisit_day = self._working_days_after(day, rng.randint(1, 4))
        follow_up = (
            first and revisit_day < self.today and rng.random() < job.trait.follow_up * (1.2 - 0.5 * trend)
        )
        reopen_at = self._office(completed + rng.uniform(0.5, 4) * DAY)
        reopen_day = self._working_days_after(reopen_at.astimezone(self.zone).date(), rng.randint(1, 2))
        reopen = (
            first
            and not follow_up
            and reopen_day < self.today
            and rng.random() < job.territory.reopen * (1.3 - 0.6 * trend)
        )
        refused = reopen and rng.random() < 0.3
        sign_off = SignOff.REFUSED if refused else SignOff.REMOTE if rng.random() < 0.07 else SignOff.ON_SITE
        completion = {
            **_base(self._uid(), completed),
            "job_id": job.id,
            "technician_id": tech.id,
            "superseded_at": None,
            "outcome": CompletionOutcome.FOLLOW_UP if follow_up else CompletionOutcome.FIXED,
            "follow_up_reason": rng.choice(job.trait.follow_up_reasons) if follow_up else None,
            "summary": "Diagnosed; a second visit is needed"
            if follow_up
            else rng.choice(job.trait.summaries),
            "completed_at": completed,
            "reported_at": None,
            "latitude": job.place.point[0] + rng.uniform(-0.0003, 0.0003),
            "longitude": job.place.point[1] + rng.uniform(-0.0003, 0.0003),
            "arrived_at": arrived,
            "on_site_s": round((completed - arrived).total_seconds()),
            "travel_s": round((arrived - set_out).total_seconds()),
            "travel_m": metres,
            "sign_off": sign_off,
            "follow_up_job_id": None,
        }
        if job.completions:
            job.completions[-1]["superseded_at"] = job.completions[-1]["superseded_at"] or completed
        job.completions.append(completion)
        self.rows["job_completions"].append(completion)
        if follow_up:
            self.counts["follow_ups"] += 1
            reason = completion["follow_up_reason"]
            next_job = self._new_job(
                job.kind,
                job.place,
                completed + SECOND,
                job.channel,
                request_id=job.row["service_request_id"],
                description=f"Follow-up: {reason}\n\nFirst visit: {job.row['description']}",
                reason=f"follow-up of job {job.id}",
                origin=job,
                origin_kind="follow_up",
            )
            completion["follow_up_job_id"] = next_job.id
            self.revisits.append(_Revisit(next_job, revisit_day, completed))
        if reopen:
            self.counts["reopened"] += 1
            why = "the customer refused the sign-off" if refused else "the customer reports the fault is back"
            at = self._move(
                job, JobStatus.REOPENED, reopen_at, self.world.dispatcher_ids[job.place.territory], why
            )
            completion["superseded_at"] = at
            job.reopened = True
            self.revisits.append(_Revisit(job, max(reopen_day, at.astimezone(self.zone).date() + DAY), at))
            return
        if job.complaint is not None:
            self._rework_done(job, completed)
        self._feedback(job, completed, trend, follow_up)

    # What customers say ---------------------------------------------------------------------------------------------

    def _feedback(self, job: _Job, completed: dt.datetime, trend: float, follow_up: bool) -> None:
        """The customer's rating (most rate, within two days) and, now and then, a complaint."""
        rng = self.rng
        mean = (
            4.2
            + 0.45 * trend
            + job.territory.rating
            + job.trait.rating
            - 1.3 * job.late
            - 0.6 * follow_up
            - 1.0 * job.reopened
            - 0.3 * (job.row["origin_kind"] == "follow_up")
        )
        score = max(1, min(5, round(rng.gauss(mean, 0.75))))
        rated_at = completed + rng.uniform(0.5, 48) * HOUR
        if rated_at < self.cutoff and rng.random() < 0.8:
            comments = GOOD_COMMENTS if score >= 4 else MIXED_COMMENTS if score == 3 else BAD_COMMENTS
            self.rows["ratings"].append(
                {
                    **_base(self._uid(), rated_at),
                    "job_id": job.id,
                    "customer_id": job.place.customer_id,
                    "score": score,
                    "comment": rng.choice(comments),
                    "rated_at": rated_at,
                }
            )
        if job.row["origin_kind"] == "rework":
            return
        chance = 0.012 + 0.3 * (score <= 2) + 0.08 * job.late + 0.08 * job.reopened
        if rng.random() >= chance:
            return
        if job.reopened or follow_up or (score <= 2 and not job.late and rng.random() < 0.5):
            category = ComplaintCategory.TECHNICAL
        elif job.late or rng.random() < 0.6:
            category = ComplaintCategory.SERVICE
        else:
            category = ComplaintCategory.BILLING
        self._complaint(job, category, completed + rng.uniform(2, 96) * HOUR)

    def _action(
        self,
        complaint: Row,
        kind: ComplaintActionKind,
        at: dt.datetime,
        note: str | None,
        actor: uuid.UUID | None,
    ) -> None:
        self.rows["complaint_actions"].append(
            {
                **_base(self._uid(), at),
                "complaint_id": complaint["id"],
                "kind": kind,
                "note": note,
                "actor_user_id": actor,
                "by_customer": actor is None,
                "occurred_at": at,
            }
        )
        complaint.update(updated_at=at, version=complaint["version"] + 1)

    def _complaint(
        self,
        job: _Job,
        category: ComplaintCategory,
        received: dt.datetime,
        *,
        responded: dt.datetime | None = None,
        resolved: dt.datetime | None = None,
    ) -> Row | None:
        """A complaint about the job, handled as far as the time before today allows."""
        if received >= self.cutoff:
            return None
        rng = self.rng
        terms = DEFAULT_POLICY[category]
        due = deadlines(received, terms)
        owner = self.world.dispatcher_ids[job.place.territory]
        channel = rng.choice((Channel.PHONE, Channel.EMAIL, Channel.WEB))
        complaint: Row = {
            **_base(self._uid(), received),
            "customer_id": job.place.customer_id,
            "job_id": job.id,
            "territory_id": self.world.territory_ids[job.place.territory],
            "category": category,
            "channel": channel,
            "description": rng.choice(COMPLAINTS[category]),
            "status": ComplaintStatus.OPEN,
            "owner_user_id": owner,
            "received_at": received,
            "respond_by": due.respond_by,
            "resolve_by": due.resolve_by,
            "responded_at": None,
            "resolved_at": None,
            "resolution": None,
            "customer_satisfied": None,
            "reopen_count": 0,
            "rework_job_id": None,
            "version": 0,
        }
        self.rows["complaints"].append(complaint)
        self._action(complaint, ComplaintActionKind.CREATED, received, f"via {channel}", None)
        respond_s, resolve_s = terms.respond_within_s, terms.resolve_within_s
        if responded is None:
            late = rng.random() < 0.12
            responded = self._office(
                received + respond_s * rng.uniform(*((1.05, 1.8) if late else (0.05, 0.8))) * SECOND
            )
        if responded >= self.cutoff:
            return complaint
        kind = rng.choice((ComplaintActionKind.CONTACTED_CUSTOMER, ComplaintActionKind.REFUND_REQUESTED))
        if category is not ComplaintCategory.BILLING:
            kind = ComplaintActionKind.CONTACTED_CUSTOMER
        complaint.update(responded_at=responded, status=ComplaintStatus.IN_PROGRESS)
        self._action(complaint, kind, responded, "called the customer", owner)
        if resolved is None:
            if rng.random() < 0.08:
                resolved = received + resolve_s * rng.uniform(1.05, 1.4) * SECOND
            else:
                resolved = responded + (due.resolve_by - responded) * rng.uniform(0.1, 0.7)
            resolved = self._office(max(resolved, responded + HOUR))
        if resolved >= self.cutoff:
            return complaint
        resolution = RESOLUTIONS[category]
        complaint.update(resolved_at=resolved, resolution=resolution, status=ComplaintStatus.RESOLVED)
        self._action(complaint, ComplaintActionKind.RESOLVED, resolved, resolution, owner)
        verdict = resolved + rng.uniform(2, 72) * HOUR
        if verdict >= self.cutoff:
            return complaint
        rework_day = self._working_days_after(verdict.astimezone(self.zone).date(), rng.randint(1, 3))
        unhappy = (
            category is not ComplaintCategory.BILLING and rework_day < self.today and rng.random() < 0.12
        )
        if not unhappy:
            complaint.update(customer_satisfied=True, status=ComplaintStatus.CLOSED)
            self._action(complaint, ComplaintActionKind.CUSTOMER_SATISFIED, verdict, None, None)
            return complaint
        # Not settled: the complaint reopens with fresh deadlines and the work is done again.
        again = deadlines(verdict, terms)
        self._action(complaint, ComplaintActionKind.CUSTOMER_UNSATISFIED, verdict, "still not right", None)
        rework = self._new_job(
            job.kind,
            job.place,
            verdict + SECOND,
            job.channel,
            request_id=job.row["service_request_id"],
            description=f"Rework after complaint: {complaint['description']}\n\nFirst visit: {job.row['description']}",
            reason=f"rework of job {job.id}",
            origin=job,
            origin_kind="rework",
        )
        rework.complaint = complaint
        complaint.update(
            customer_satisfied=False,
            status=ComplaintStatus.REOPENED,
            reopen_count=1,
            responded_at=None,
            resolved_at=None,
            respond_by=again.respond_by,
            resolve_by=again.resolve_by,
            rework_job_id=rework.id,
        )
        self._action(
            complaint,
            ComplaintActionKind.REOPENED,
            verdict + SECOND,
            f"the customer is not satisfied with the resolution; rework job {rework.id} created",
            None,
        )
        self.revisits.append(_Revisit(rework, rework_day, verdict))
        return complaint

    def _rework_done(self, rework: _Job, completed: dt.datetime) -> None:
        """The second round of a reopened complaint: answered by booking the rework, settled after it."""
        complaint = rework.complaint
        assert complaint is not None
        owner = complaint["owner_user_id"]
        booked = next(
            e["occurred_at"]
            for e in reversed(self.rows["job_status_events"])
            if e["job_id"] == rework.id and e["to_status"] is JobStatus.SCHEDULED
        )
        complaint.update(responded_at=booked, status=ComplaintStatus.IN_PROGRESS)
        self._action(
            complaint, ComplaintActionKind.REWORK_SCHEDULED, booked, f"rework job {rework.id}", owner
        )
        resolved = completed + self.rng.uniform(1, 3) * HOUR
        if resolved >= self.cutoff:
            return
        resolution = "The work was done again and checked with the customer"
        complaint.update(resolved_at=resolved, resolution=resolution, status=ComplaintStatus.RESOLVED)
        self._action(complaint, ComplaintActionKind.RESOLVED, resolved, resolution, owner)
        verdict = resolved + self.rng.uniform(2, 30) * HOUR
        if verdict < self.cutoff:
            complaint.update(customer_satisfied=True, status=ComplaintStatus.CLOSED)
            self._action(complaint, ComplaintActionKind.CUSTOMER_SATISFIED, verdict, None, None)

    def _close_completed(self) -> None:
        """The office closes completed jobs a day or three later; the most recent ones are still completed."""
        for job in self.jobs:
            if job.status is not JobStatus.COMPLETED or job.completions[-1]["sign_off"] is SignOff.REFUSED:
                continue
            at = self._office(job.last + self.rng.uniform(18, 72) * HOUR)
            if at < self.cutoff:
                self._move(
                    job, JobStatus.CLOSED, at, self.world.dispatcher_ids[job.place.territory], "invoiced"
                )

    def _complaints_on_the_edge(self) -> None:
        """Two complaints from the last days still being handled: one past its resolve-by, one close to it."""
        complained = {c["job_id"] for c in self.rows["complaints"]}
        recent = [
            j
            for j in self.jobs
            if j.status in (JobStatus.COMPLETED, JobStatus.CLOSED)
            and j.id not in complained
            and j.row["origin_job_id"] is None
            and self.cutoff - 7 * DAY < j.completions[-1]["completed_at"] < self.cutoff - 5 * DAY
        ]
        if len(recent) < 2:
            return
        past, near = self.rng.sample(recent, 2)
        # Technical (resolve within 3 days), received three days and a half ago.
        received = self.cutoff - 3.5 * DAY
        self._complaint(
            past, ComplaintCategory.TECHNICAL, received, responded=received + 2 * HOUR, resolved=self.cutoff
        )
        # Service (resolve within 5 days), received four days and fourteen hours ago.
        received = self.cutoff - (4 * DAY + 14 * HOUR)
        self._complaint(
            near, ComplaintCategory.SERVICE, received, responded=received + 5 * HOUR, resolved=self.cutoff
        )

    # Counting -------------------------------------------------------------------------------------------------------

    def summary(self) -> dict[str, int]:
        statuses = [j.status for j in self.jobs]
        return {
            "history_days": len(self.days),
            "history_jobs": len(self.jobs),
            "history_completed": sum(s in (JobStatus.COMPLETED, JobStatus.CLOSED) for s in statuses),
            "history_cancelled": sum(s is JobStatus.CANCELLED for s in statuses),
            "history_late_arrivals": self.counts["late_arrivals"],
            "history_follow_ups": self.counts["follow_ups"],
            "history_reopened": self.counts["reopened"],
            "history_ratings": len(self.rows["ratings"]),
            "history_complaints": len(self.rows["complaints"]),
        }


async def seed_history(
    session: AsyncSession, world: World, *, rng_seed: int, now: dt.datetime | None = None
) -> dict[str, int]:
    """Write the demo's past into the session's transaction; returns how many of each thing it made."""
    history = History(world, rng_seed=rng_seed, now=now or dt.datetime.now(dt.UTC)).build()
    assert all(j.status in FINISHED for j in history.jobs), "the history must be finished work"
    await session.flush()
    # The demo's customers and sites are new in this transaction, like every job that shows them: left noted, the
    # commit would put every history job in the change feed again as a job showing them.
    changes.pending(session.sync_session).shown.clear()
    if session.get_bind().dialect.name == "postgresql":
        await _copy(session, history.rows)
    else:
        for name, rows in history.rows.items():
            if rows:
                await session.execute(sa.insert(TABLES[name].__table__), rows)
    loaded = {name: len(rows) for name, rows in history.rows.items() if rows}
    await session.run_sync(_audit_bulk, loaded, history.first_day, history.last_day)
    await stale.mark_all(session)  # written around the unit of work, so not noted by it
    return history.summary()


async def _copy(session: AsyncSession, tables: dict[str, list[Row]]) -> None:
    """PostgreSQL: COPY the rows in, through the driver (asyncpg), inside the session's transaction. An executemany
    there goes row by row and took seconds; every e2e test seeds the demo."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    for name, rows in tables.items():
        if not rows:
            continue
        columns = list(rows[0])
        records = [tuple(_copyable(row[c]) for c in columns) for row in rows]
        await driver.copy_records_to_table(name, records=records, columns=columns)


def _copyable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return value


def _audit_bulk(session: Session, loaded: dict[str, int], first: dt.date, last: dt.date) -> None:
    """One audit entry per table that was loaded in bulk (rows the unit of work never saw), chained like any other."""
    head = audit.lock_head(session)
    actor = str(session.info.get("actor", SYSTEM_ACTOR))
    now = dt.datetime.now(dt.UTC)
    for table, count in loaded.items():
        seq = head.seq + 1
        changes: dict[str, Any] = {"rows": count, "from": first.isoformat(), "to": last.isoformat()}
        entity_id = "demo-history"
        digest = audit.entry_hash(
            seq=seq,
            prev_hash=head.hash,
            occurred_at=now,
            actor=actor,
            action="insert",
            entity=table,
            entity_id=entity_id,
            changes=changes,
        )
        session.add(
            m.AuditEntry(
                seq=seq,
                occurred_at=now,
                actor=actor,
                action="insert",
                entity=table,
                entity_id=entity_id,
                changes=changes,
                prev_hash=head.hash,
                hash=digest,
            )
        )
        head.seq, head.hash = seq, digest
    session.flush()
