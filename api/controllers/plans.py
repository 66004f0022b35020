"""Plans: ask the optimizer for one, follow it, review, edit, re-optimize and publish it."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import HTTPException
from litestar.openapi.datastructures import ResponseSpec
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import OFFICE
from api.deps import etag, if_match_version
from api.planning import replanning, service
from api.planning.pool import PoolFull, SolverPool
from api.planning.views import plan_geojson, plan_view, summary
from api.schemas.plans import (
    AbsenceIn,
    EditIn,
    EmergencyIn,
    MoveIn,
    OverrunIn,
    PinIn,
    PlanIn,
    PlanOut,
    PlanSummaryOut,
    PublishOut,
    ReoptimizeIn,
)
from domain.principal import Principal
from scheduling.edits import Move, Unassign


class TooManyPlans(HTTPException):
    status_code = 429


def pool_of(request: Request[Any, Any, Any]) -> SolverPool:
    pool: SolverPool = request.app.state.solver_pool
    return pool


def _busy(exc: PoolFull) -> TooManyPlans:
    return TooManyPlans(
        detail="every solver worker is busy; try again shortly",
        headers={"Retry-After": str(exc.retry_after)},
    )


async def _answer(db_session: AsyncSession, plan: Any, status_code: int = 200) -> Response[PlanOut]:
    return Response(
        await plan_view(db_session, plan), status_code=status_code, headers={"ETag": etag(plan.version)}
    )


class PlanController(Controller):
    path = "/api/plans"
    tags = ["plans"]
    guards = [OFFICE]

    @post(
        operation_id="CreatePlan",
        summary="Plan a territory for a day: answers 202 at once, the plan solves in the background",
        description=(
            "The problem is read from the database now (open jobs, shifts and breaks, dispatched and under-way "
            "work pinned); the solve runs in a worker with the time limit. Follow it with GetPlan. When every "
            "worker is busy the answer is 429 with Retry-After."
        ),
        status_code=202,
    )
    async def create(
        self, request: Request[Any, Any, Any], data: PlanIn, principal: Principal, db_session: AsyncSession
    ) -> Response[PlanOut]:
        try:
            plan = await service.create_plan(
                db_session,
                principal,
                pool_of(request),
                service.PlanRequest(data.territory_id, data.day, data.days, data.time_limit_s, data.note),
            )
        except PoolFull as exc:
            raise _busy(exc) from exc
        return await _answer(db_session, plan, 202)

    @get(operation_id="ListPlans", summary="Recent plans the caller may see, newest first (at most 50)")
    async def list_plans(
        self,
        principal: Principal,
        db_session: AsyncSession,
        territory_id: uuid.UUID | None = None,
        day: dt.date | None = None,
    ) -> list[PlanSummaryOut]:
        plans = await service.list_plans(db_session, principal, territory_id=territory_id, day=day)
        return [summary(p) for p in plans]

    @get(
        "/{plan_id:uuid}", operation_id="GetPlan", summary="A plan: its progress, then its routes for review"
    )
    async def get_plan(
        self, plan_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> Response[PlanOut]:
        return await _answer(db_session, await service.get_plan(db_session, principal, plan_id))

    @get(
        "/{plan_id:uuid}/geojson",
        operation_id="GetPlanGeoJSON",
        summary="The plan's routes, stops and left-out jobs as a GeoJSON FeatureCollection",
        media_type="application/geo+json",
    )
    async def geojson(
        self, plan_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> dict[str, Any]:
        return await plan_geojson(db_session, await service.get_plan(db_session, principal, plan_id))

    @post(
        "/{plan_id:uuid}/cancel",
        operation_id="CancelPlan",
        summary="Stop a plan that is queued or solving",
        status_code=200,
    )
    async def cancel(
        self,
        request: Request[Any, Any, Any],
        plan_id: uuid.UUID,
        principal: Principal,
        db_session: AsyncSession,
    ) -> Response[PlanOut]:
        plan = await service.cancel_plan(db_session, principal, pool_of(request), plan_id)
        return await _answer(db_session, plan)

    @post(
        "/{plan_id:uuid}/edits",
        operation_id="EditPlan",
        summary="Move a job, take it out, or pin it (If-Match required)",
        description=(
            "`move` gives the job to a technician at a position, `unassign` takes it out, `pin` keeps it where "
            "it is when the plan is re-optimized. Times are recomputed; an edit that breaks a hard rule is a "
            "409 whose `violations` name each rule."
        ),
        status_code=200,
    )
    async def edit(
        self,
        request: Request[Any, Any, Any],
        plan_id: uuid.UUID,
        data: EditIn,
        principal: Principal,
        db_session: AsyncSession,
    ) -> Response[PlanOut]:
        version = if_match_version(request, required=True)
        job = str(data.job_id)
        edit: Move | Unassign | str
        technician_id = None
        if isinstance(data, MoveIn):
            edit, technician_id = Move(job, "", data.position), data.technician_id
        elif isinstance(data, PinIn):
            edit, technician_id = job, data.technician_id
            if data.technician_id is not None:
                edit = Move(job, "", data.position, pin=True)
        else:
            edit = Unassign(job)
        plan = await service.edit_plan(
            db_session, principal, plan_id, edit, technician_id=technician_id, expected_version=version
        )
        return await _answer(db_session, plan)

    @post(
        "/{plan_id:uuid}/reoptimize",
        operation_id="ReoptimizePlan",
        summary="A new draft from the database as it is now, keeping this plan's pins (202, like CreatePlan)",
        status_code=202,
    )
    async def reoptimize(
        self,
        request: Request[Any, Any, Any],
        plan_id: uuid.UUID,
        data: ReoptimizeIn,
        principal: Principal,
        db_session: AsyncSession,
    ) -> Response[PlanOut]:
        try:
            plan = await service.reoptimize(
                db_session, principal, pool_of(request), plan_id, data.time_limit_s
            )
        except PoolFull as exc:
            raise _busy(exc) from exc
        return await _answer(db_session, plan, 202)

    @post(
        "/{plan_id:uuid}/publish",
        operation_id="PublishPlan",
        summary="Publish a ready plan (If-Match required): assignments, dispatch, technicians told",
        description=(
            "Writes every route's assignments and planned times in one transaction, moves the jobs to "
            "dispatched, queues one message per technician whose day changed (customer contact, time, place, "
            "parts and tools), and supersedes the plan published before. A plan changed since the caller read "
            "it is a 412; publishing a published plan again changes nothing."
        ),
        status_code=200,
    )
    async def publish(
        self,
        request: Request[Any, Any, Any],
        plan_id: uuid.UUID,
        principal: Principal,
        db_session: AsyncSession,
    ) -> Response[PublishOut]:
        version = if_match_version(request, required=True)
        assert version is not None
        published = await service.publish_plan(db_session, principal, plan_id, expected_version=version)
        return Response(
            PublishOut(
                plan=await plan_view(db_session, published.plan),
                assignments_written=published.assignments_written,
                notifications_queued=published.notifications_queued,
            ),
            headers={"ETag": etag(published.plan.version)},
        )

    @post(
        "/emergency",
        operation_id="InsertEmergencyJob",
        summary="Put an urgent job into today's routes with the least disruption: a new draft for review",
        description=(
            "The job is tried where it adds least travel in the routes as they stand, no one else's work changing "
            "hands (201, a ready draft). When it fits nowhere that way, the rest of the day is solved again from "
            "the standing routes (202, a queued draft), which may leave less important work out."
        ),
        status_code=201,
        responses={
            202: ResponseSpec(data_container=PlanOut, description="Queued: a solve of the rest of the day")
        },
    )
    async def emergency(
        self,
        request: Request[Any, Any, Any],
        data: EmergencyIn,
        principal: Principal,
        db_session: AsyncSession,
    ) -> Response[PlanOut]:
        try:
            plan = await replanning.insert_emergency(
                db_session, principal, pool_of(request), data.job_id, data.time_limit_s
            )
        except PoolFull as exc:
            raise _busy(exc) from exc
        return await _answer(db_session, plan, 201 if plan.result is not None else 202)

    @post(
        "/absence",
        operation_id="ReplanTechnicianAbsence",
        summary="Re-plan the rest of a day without a technician who is off: a queued draft (202)",
        status_code=202,
    )
    async def absence(
        self, request: Request[Any, Any, Any], data: AbsenceIn, principal: Principal, db_session: AsyncSession
    ) -> Response[PlanOut]:
        try:
            plan = await replanning.replan_absence(
                db_session, principal, pool_of(request), data.technician_id, data.day, data.time_limit_s
            )
        except PoolFull as exc:
            raise _busy(exc) from exc
        return await _answer(db_session, plan, 202)

    @post(
        "/overrun",
        operation_id="ReplanOverrun",
        summary="Re-time a technician's day when the job under way runs late: a ready draft with SLA risks (201)",
        status_code=201,
    )
    async def overrun(
        self, data: OverrunIn, principal: Principal, db_session: AsyncSession
    ) -> Response[PlanOut]:
        plan = await replanning.replan_overrun(db_session, principal, data.job_id, data.expected_end)
        return await _answer(db_session, plan, 201)
