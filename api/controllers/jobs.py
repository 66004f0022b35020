"""Intake, job lists, triage, assignment and status moves."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, patch, post, put
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import ANY_STAFF, OFFICE
from api.deps import Limit, Offset, etag, if_match_version
from api.schemas.base import Page
from api.schemas.jobs import (
    AssignIn,
    IntakeOut,
    JobOut,
    ServiceRequestIn,
    StatusEventOut,
    SuggestionOut,
    TransitionIn,
    TriageIn,
)
from domain import models as m
from domain.enums import JobStatus, Priority
from domain.principal import Principal
from domain.services import intake, jobs
from domain.services.intake import CustomerDetails, IntakeCommand, SiteDetails, Window


def job_out(job: m.Job) -> JobOut:
    return msgspec.convert(job, JobOut, from_attributes=True)


def _with_etag(job: m.Job, status_code: int = 200) -> Response[JobOut]:
    return Response(job_out(job), status_code=status_code, headers={"ETag": etag(job.version)})


class IntakeController(Controller):
    path = "/api/service-requests"
    tags = ["intake"]
    guards = [OFFICE]

    @post(
        operation_id="CreateServiceRequest",
        summary="Take in a request from any channel and classify it into a job",
        description=(
            "The customer is matched by phone or e-mail (never duplicated) or created; an address without "
            "coordinates is geocoded. With a service type the job is classified at once; without one it waits in "
            "`new` for triage and the answer ranks suggested service types from the description."
        ),
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: ServiceRequestIn,
        principal: Principal,
        db_session: AsyncSession,
    ) -> IntakeOut:
        cmd = IntakeCommand(
            channel=data.channel,
            description=data.description,
            customer=CustomerDetails(
                name=data.customer.name,
                phone=data.customer.phone,
                email=data.customer.email,
                consent_to_messages=data.customer.consent_to_messages,
            ),
            site=None
            if data.site is None
            else SiteDetails(
                address=data.site.address,
                latitude=data.site.latitude,
                longitude=data.site.longitude,
                access_notes=data.site.access_notes,
            ),
            site_id=data.site_id,
            service_type_id=data.service_type_id,
            priority=data.priority,
            windows=[Window(w.starts_at, w.ends_at) for w in data.windows],
        )
        result = await intake.take_request(db_session, principal, request.app.state.locator, cmd)
        return IntakeOut(
            service_request_id=result.request.id,
            customer_id=result.customer.id,
            customer_created=result.customer_created,
            site_id=result.site.id,
            job=job_out(result.job),
            needs_triage=result.job.service_type_id is None,
            suggestions=[
                SuggestionOut(
                    service_type_id=t.id,
                    code=t.code,
                    name=t.name,
                    score=s.score,
                    matched_keywords=list(s.matched),
                )
                for t, s in result.suggestions
            ],
        )


class JobController(Controller):
    path = "/api/jobs"
    tags = ["jobs"]

    @get(
        operation_id="ListJobs",
        guards=[ANY_STAFF],
        summary="Jobs the caller may see, most urgent deadline first",
        description="A technician sees the jobs assigned to them; a dispatcher the jobs of their territories.",
    )
    async def list_jobs(
        self,
        principal: Principal,
        db_session: AsyncSession,
        limit: Limit = 50,
        offset: Offset = 0,
        status: Annotated[list[JobStatus] | None, Parameter(description="One or more statuses")] = None,
        territory_id: uuid.UUID | None = None,
        priority: Priority | None = None,
        technician_id: uuid.UUID | None = None,
        date: Annotated[
            dt.date | None, Parameter(description="A window or planned start on this day (UTC)")
        ] = None,
        resolve_by_before: Annotated[
            dt.datetime | None, Parameter(description="Resolve-by deadline before this instant")
        ] = None,
        needs_triage: bool | None = None,
    ) -> Page[JobOut]:
        if resolve_by_before is not None:
            # Naive means UTC; an aware instant is compared in UTC (OverflowError at the calendar's edge is a 400).
            if resolve_by_before.tzinfo is None:
                resolve_by_before = resolve_by_before.replace(tzinfo=dt.UTC)
            resolve_by_before = resolve_by_before.astimezone(dt.UTC)
        found, total = await jobs.list_jobs(
            db_session,
            principal,
            jobs.JobFilter(
                statuses=tuple(status or ()),
                territory_id=territory_id,
                priority=priority,
                technician_id=technician_id,
                day=date,
                resolve_by_before=resolve_by_before,
                needs_triage=needs_triage,
            ),
            limit=limit,
            offset=offset,
        )
        return Page(items=[job_out(j) for j in found], total=total, limit=limit, offset=offset)

    @get("/{job_id:uuid}", operation_id="GetJob", guards=[ANY_STAFF], summary="One job, with its ETag")
    async def get_job(
        self, job_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> Response[JobOut]:
        return _with_etag(await jobs.get_job(db_session, principal, job_id))

    @patch(
        "/{job_id:uuid}",
        operation_id="TriageJob",
        guards=[OFFICE],
        summary="Set a job's service type and/or priority (If-Match required)",
        description="Classification follows: skills, duration, checklist, parts and tools, and the SLA deadlines.",
    )
    async def triage(
        self,
        request: Request[Any, Any, Any],
        job_id: uuid.UUID,
        data: TriageIn,
        principal: Principal,
        db_session: AsyncSession,
    ) -> Response[JobOut]:
        version = if_match_version(request, required=True)
        assert version is not None
        job = await jobs.triage(
            db_session,
            principal,
            job_id,
            service_type_id=data.service_type_id,
            priority=data.priority,
            expected_version=version,
        )
        return _with_etag(job)

    @post(
        "/{job_id:uuid}/transitions",
        operation_id="TransitionJobStatus",
        guards=[ANY_STAFF],
        summary="Move a job to another status",
        description="An illegal move is a 409 naming the current status. If-Match is honoured when sent.",
        status_code=200,
    )
    async def transition(
        self,
        request: Request[Any, Any, Any],
        job_id: uuid.UUID,
        data: TransitionIn,
        principal: Principal,
        db_session: AsyncSession,
    ) -> Response[JobOut]:
        job = await jobs.transition(
            db_session,
            principal,
            job_id,
            data.to_status,
            reason=data.reason,
            expected_version=if_match_version(request, required=False),
        )
        return _with_etag(job)

    @put(
        "/{job_id:uuid}/assignment",
        operation_id="AssignJob",
        guards=[OFFICE],
        summary="Assign a job to a technician who holds its required skills",
    )
    async def assign(
        self,
        request: Request[Any, Any, Any],
        job_id: uuid.UUID,
        data: AssignIn,
        principal: Principal,
        db_session: AsyncSession,
    ) -> Response[JobOut]:
        job = await jobs.assign(
            db_session,
            principal,
            job_id,
            data.technician_id,
            planned_start=data.planned_start,
            expected_version=if_match_version(request, required=False),
        )
        return _with_etag(job)

    @get(
        "/{job_id:uuid}/status-events",
        operation_id="ListJobStatusEvents",
        guards=[ANY_STAFF],
        summary="The job's status history, oldest first",
    )
    async def status_events(
        self, job_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> list[StatusEventOut]:
        events = await jobs.status_history(db_session, principal, job_id)
        return [msgspec.convert(e, StatusEventOut, from_attributes=True) for e in events]
