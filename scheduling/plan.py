"""The answer: a route per shift with the time of every stop, the jobs left out and why, and the totals."""

from __future__ import annotations

import msgspec


class Out(msgspec.Struct, frozen=True, kw_only=True):
    pass


class Stop(Out, frozen=True):
    job: str
    arrival: int
    start: int
    end: int
    travel: int
    waiting: int


class BreakTaken(Out, frozen=True):
    start: int
    end: int


class Route(Out, frozen=True):
    technician: str
    shift: str
    stops: tuple[Stop, ...]
    start: int
    end: int
    distance: float
    travel_time: int
    breaks: tuple[BreakTaken, ...] = ()


class Unassigned(Out, frozen=True):
    job: str
    reasons: tuple[str, ...]


class Totals(Out, frozen=True):
    distance: float
    travel_time: int
    waiting_time: int
    vehicles_used: int
    assigned: int
    unassigned: int


class Plan(Out, frozen=True):
    routes: tuple[Route, ...]
    unassigned: tuple[Unassigned, ...]
    totals: Totals
    objective: dict[str, int] = {}
    status: str = "feasible"
    first_solution_ms: int | None = None
    solve_ms: int | None = None


plan_encoder = msgspec.json.Encoder()
