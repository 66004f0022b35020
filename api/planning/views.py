"""A stored plan as a dispatcher reviews it: routes with names, places and clock times, what is left out and
why, how it differs from what is published now, and the same routes as GeoJSON for any map client."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from api.planning.rows import by_id
from api.planning.service import problem_of, result_of
from api.schemas.plans import (
    BreakOut,
    ChangeOut,
    PlanOut,
    PlanSummaryOut,
    ProgressOut,
    RouteOut,
    SlaRiskOut,
    StopOut,
    TotalsOut,
    UnassignedOut,
)
from domain import models as m
from domain.enums import JobStatus
from scheduling.plan import Plan

# Statuses in which a job's assignment is what the technician has been given.
HELD = (
    JobStatus.SCHEDULED,
    JobStatus.DISPATCHED,
    JobStatus.EN_ROUTE,
    JobStatus.ON_SITE,
    JobStatus.IN_PROGRESS,
)


@dataclass(frozen=True, slots=True)
class _Facts:
    jobs: dict[str, m.Job]
    sites: dict[uuid.UUID, m.Site]
    customers: dict[uuid.UUID, m.Customer]
    technicians: dict[str, m.Technician]


async def _facts(session: AsyncSession, plan: m.Plan) -> _Facts:
    problem = problem_of(plan)
    jobs = {
        str(i): j for i, j in (await by_id(session, m.Job, (uuid.UUID(j.id) for j in problem.jobs))).items()
    }
    sites = await by_id(session, m.Site, (j.site_id for j in jobs.values()))
    customers = await by_id(session, m.Customer, (j.customer_id for j in jobs.values()))
    people = await by_id(session, m.Technician, (uuid.UUID(t.id) for t in problem.technicians))
    technicians = {str(i): t for i, t in people.items()}
    return _Facts(jobs, sites, customers, technicians)


def summary(plan: m.Plan) -> PlanSummaryOut:
    return PlanSummaryOut(
        id=plan.id,
        territory_id=plan.territory_id,
        day=plan.day,
        kind=plan.kind,
        state=plan.state,
        version=plan.version,
        created_at=plan.created_at,
        assigned=plan.assigned_so_far,
    )


async def plan_view(session: AsyncSession, plan: m.Plan) -> PlanOut:
    problem, result = problem_of(plan), result_of(plan)
    facts = await _facts(session, plan)

    def at(seconds: int) -> dt.datetime:
        return plan.origin + dt.timedelta(seconds=seconds)

    pinned = {j.id for j in problem.jobs if j.pin is not None}
    routes: list[RouteOut] = []
    risks: list[SlaRiskOut] = []
    unassigned: list[UnassignedOut] = []
    changes: list[ChangeOut] = []
    if result is not None:
        for route in result.routes:
            technician = facts.technicians.get(route.technician)
            stops = []
            for k, stop in enumerate(route.stops):
                job = facts.jobs[stop.job]
                site = facts.sites[job.site_id]
                if at(stop.end) > job.resolve_by:
                    risks.append(
                        SlaRiskOut(job_id=job.id, resolve_by=job.resolve_by, planned_end=at(stop.end))
                    )
                stops.append(
                    StopOut(
                        job_id=job.id,
                        sequence=k,
                        description=job.description,
                        priority=job.priority,
                        customer=facts.customers[job.customer_id].name,
                        address=site.address,
                        latitude=site.latitude,
                        longitude=site.longitude,
                        arrival=at(stop.arrival),
                        start=at(stop.start),
                        end=at(stop.end),
                        travel_s=stop.travel,
                        waiting_s=stop.waiting,
                        pinned=stop.job in pinned,
                    )
                )
            routes.append(
                RouteOut(
                    technician_id=uuid.UUID(route.technician),
                    technician=technician.name if technician else route.technician,
                    shift_id=uuid.UUID(route.shift),
                    start=at(route.start),
                    end=at(route.end),
                    travel_s=route.travel_time,
                    distance_m=round(route.distance, 1),
                    stops=stops,
                    breaks=[BreakOut(start=at(b.start), end=at(b.end)) for b in route.breaks],
                )
            )
        for left in result.unassigned:
            job = facts.jobs[left.job]
            unassigned.append(
                UnassignedOut(
                    job_id=job.id,
                    description=job.description,
                    customer=facts.customers[job.customer_id].name,
                    address=facts.sites[job.site_id].address,
                    reasons=list(left.reasons),
                )
            )
        changes = _changes(result, facts)
    return PlanOut(
        id=plan.id,
        territory_id=plan.territory_id,
        day=plan.day,
        days=plan.days,
        kind=plan.kind,
        state=plan.state,
        version=plan.version,
        time_limit_s=plan.time_limit_s,
        note=plan.note,
        base_plan_id=plan.base_plan_id,
        created_at=plan.created_at,
        started_at=plan.started_at,
        finished_at=plan.finished_at,
        published_at=plan.published_at,
        progress=ProgressOut(
            elapsed_s=plan.elapsed_s, best_objective=plan.best_objective, assigned=plan.assigned_so_far
        ),
        error=plan.error,
        routes=routes,
        unassigned=unassigned,
        set_aside=dict(plan.set_aside or {}),
        totals=_totals(result),
        objective=dict(result.objective) if result is not None else {},
        changes=changes,
        sla_risks=risks,
    )


def _totals(result: Plan | None) -> TotalsOut | None:
    if result is None:
        return None
    t = result.totals
    return TotalsOut(
        assigned=t.assigned,
        unassigned=t.unassigned,
        travel_s=t.travel_time,
        waiting_s=t.waiting_time,
        distance_m=round(t.distance, 1),
        technicians_used=t.vehicles_used,
    )


def _changes(result: Plan, facts: _Facts) -> list[ChangeOut]:
    """Per job, the technician it has now (its assignment, while held) against the one the plan gives it."""
    planned = {s.job: uuid.UUID(r.technician) for r in result.routes for s in r.stops}
    out = []
    for job_id, job in facts.jobs.items():
        now = job.assignment.technician_id if job.assignment is not None and job.status in HELD else None
        then = planned.get(job_id)
        if now == then:
            continue
        change: Literal["new", "moved", "dropped"] = (
            "new" if now is None else "dropped" if then is None else "moved"
        )
        out.append(ChangeOut(job_id=job.id, change=change, from_technician_id=now, to_technician_id=then))
    return sorted(out, key=lambda c: (c.change, str(c.job_id)))


async def plan_geojson(session: AsyncSession, plan: m.Plan) -> dict[str, Any]:
    """A FeatureCollection: one LineString per route (home, stops, home) and one Point per stop and per
    left-out job. Coordinates are [longitude, latitude], as GeoJSON has them."""
    problem, result = problem_of(plan), result_of(plan)
    facts = await _facts(session, plan)
    features: list[dict[str, Any]] = []
    if result is None:
        return {"type": "FeatureCollection", "features": features}
    shifts = {s.id: s for _, s in problem.shifts}
    place = problem.locations

    def point(index: int) -> list[float]:
        return [place[index].y, place[index].x]

    jobs = {j.id: j for j in problem.jobs}
    for k, route in enumerate(result.routes):
        shift = shifts[route.shift]
        technician = facts.technicians.get(route.technician)
        line = [point(shift.start_location), *(point(jobs[s.job].location) for s in route.stops)]
        line.append(point(shift.end_location))
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": line},
                "properties": {
                    "kind": "route",
                    "route": k,
                    "technician_id": route.technician,
                    "technician": technician.name if technician else route.technician,
                    "stops": len(route.stops),
                },
            }
        )
        for sequence, stop in enumerate(route.stops):
            job = facts.jobs[stop.job]
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": point(jobs[stop.job].location)},
                    "properties": {
                        "kind": "stop",
                        "route": k,
                        "sequence": sequence,
                        "job_id": stop.job,
                        "technician_id": route.technician,
                        "customer": facts.customers[job.customer_id].name,
                        "start": (plan.origin + dt.timedelta(seconds=stop.start)).isoformat(),
                    },
                }
            )
    for left in result.unassigned:
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": point(jobs[left.job].location)},
                "properties": {"kind": "unassigned", "job_id": left.job, "reasons": list(left.reasons)},
            }
        )
    return {"type": "FeatureCollection", "features": features}
