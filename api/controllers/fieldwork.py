"""The office's view of field work: a job's field report, and the exceptions sync raised for a person to look at."""

from __future__ import annotations

import uuid

import msgspec
from litestar import Controller, get, post
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import ANY_STAFF, OFFICE
from api.deps import Limit, Offset
from api.schemas.base import Page
from api.schemas.fieldwork import FieldReportOut, ResolutionIn, SyncExceptionOut
from domain import models as m
from domain.principal import Principal
from domain.services.field_report import field_report
from sync import review


def exception_out(found: m.SyncException) -> SyncExceptionOut:
    return SyncExceptionOut(
        id=found.id,
        code=found.code,
        meaning=review.KINDS[found.code],
        detail=found.detail,
        job_id=found.job_id,
        job_description=found.job.description if found.job else None,
        job_status=found.job.status if found.job else None,
        technician_id=found.technician_id,
        technician_name=found.technician.name,
        device_id=found.device_id,
        mutation_id=found.mutation_id,
        mutation_name=found.mutation_name,
        args=found.args,
        occurrences=found.occurrences,
        created_at=found.created_at,
        resolved_at=found.resolved_at,
        resolution=found.resolution,
    )


class FieldReportController(Controller):
    path = "/api/jobs/{job_id:uuid}/field-report"
    tags = ["jobs"]

    @get(
        operation_id="GetJobFieldReport",
        guards=[ANY_STAFF],
        summary="What was recorded on site: notes, checklist and findings, parts, time, photos, signature",
    )
    async def get_report(
        self, job_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> FieldReportOut:
        report = await field_report(db_session, principal, job_id)
        return msgspec.convert(
            {
                "job_id": report.job.id,
                "status": report.job.status,
                "notes": report.notes,
                "fields": report.fields,
                "parts": report.parts,
                "time_entries": report.time_entries,
                "photos": report.photos,
                "signature": report.signature,
            },
            FieldReportOut,
            from_attributes=True,
        )


class SyncExceptionController(Controller):
    path = "/api/sync-exceptions"
    tags = ["sync"]
    guards = [OFFICE]

    @get(
        operation_id="ListSyncExceptions",
        summary="What came from the field that a person should look at, newest first",
        description=(
            "A status change after reassignment, work on a cancelled job, a second signature, a device clock far "
            "off, overlapping time. Open ones by default; `resolved=true` for the history."
        ),
    )
    async def list_exceptions(
        self,
        principal: Principal,
        db_session: AsyncSession,
        resolved: bool = False,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> Page[SyncExceptionOut]:
        found, total = await review.list_open(
            db_session, principal, resolved=resolved, limit=limit, offset=offset
        )
        return Page(items=[exception_out(x) for x in found], total=total, limit=limit, offset=offset)

    @post(
        "/{exception_id:uuid}/resolution",
        operation_id="ResolveSyncException",
        summary="Close an exception with what was done about it",
        status_code=200,
    )
    async def resolve(
        self, exception_id: uuid.UUID, data: ResolutionIn, principal: Principal, db_session: AsyncSession
    ) -> SyncExceptionOut:
        return exception_out(await review.resolve(db_session, principal, exception_id, data.resolution))
