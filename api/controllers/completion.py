"""Completing a job online (the offline path is the `job.complete.v1` sync mutation)."""

from __future__ import annotations

import datetime as dt
import uuid

from litestar import Controller, post
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import TECHNICIAN
from api.schemas.completion import CompleteIn, CompletionOut
from domain import models as m
from domain.keys import ServerKeys
from domain.principal import Principal
from domain.services import completion


def completion_out(job: m.Job, done: m.JobCompletion) -> CompletionOut:
    return CompletionOut(
        job_id=job.id,
        status=job.status,
        outcome=done.outcome,
        follow_up_reason=done.follow_up_reason,
        summary=done.summary,
        completed_at=done.completed_at,
        latitude=done.latitude,
        longitude=done.longitude,
        arrived_at=done.arrived_at,
        on_site_s=done.on_site_s,
        travel_s=done.travel_s,
        travel_m=done.travel_m,
        sign_off=done.sign_off,
        follow_up_job_id=done.follow_up_job_id,
        certificate_url=f"/api/jobs/{job.id}/certificate",
    )


class CompletionController(Controller):
    path = "/api/jobs/{job_id:uuid}/completion"
    tags = ["completion"]
    guards = [TECHNICIAN]

    @post(
        operation_id="CompleteJob",
        summary="Complete one of your jobs that is in progress",
        description=(
            "Refused with 409 and the list of what is `missing` until every checklist item is answered and, where "
            "the service type asks for it, the customer has signed (or `remote_sign_off` asks them to sign off "
            "through a link). `follow_up` needs a reason and creates the follow-up job, classified like this one. "
            "The job's record is sealed, and the customer is sent the certificate and the survey."
        ),
        status_code=200,
    )
    async def complete(
        self,
        job_id: uuid.UUID,
        data: CompleteIn,
        principal: Principal,
        db_session: AsyncSession,
        keys: ServerKeys,
    ) -> CompletionOut:
        done = await completion.complete_online(
            db_session,
            keys,
            principal,
            job_id,
            completion.CompletionInput(
                outcome=data.outcome,
                follow_up_reason=data.follow_up_reason,
                summary=data.summary,
                latitude=data.latitude,
                longitude=data.longitude,
                remote_sign_off=data.remote_sign_off,
                answers=data.answers,
            ),
            now=dt.datetime.now(dt.UTC),
        )
        job = await db_session.get_one(m.Job, job_id)
        return completion_out(job, done)
