"""`job.transition_status.v1` and `job.complete.v1`: a technician's status moves and completion, validated
against the server's state of the job."""

from __future__ import annotations

from typing import Annotated

import msgspec
import sqlalchemy as sa

from domain import job_status
from domain import models as m
from domain.enums import CompletionOutcome, JobStatus
from domain.errors import DomainError
from domain.services import completion, customer_notices
from domain.services.jobs import record_status
from sync.mutations.base import (
    APPLIED,
    Context,
    DeviceTime,
    JobArgs,
    Latitude,
    Longitude,
    Outcome,
    Rejected,
    locked_job,
    mutation,
    was_granted,
)

FIELD_TARGETS = frozenset(to for _, to in job_status.TECHNICIAN_MOVES)
Text = Annotated[str, msgspec.Meta(max_length=4000)]


class TransitionArgs(JobArgs, frozen=True):
    to: JobStatus
    reason: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


class CompleteArgs(JobArgs, frozen=True):
    outcome: CompletionOutcome
    follow_up_reason: Text | None = None
    summary: Text | None = None
    completed_at: DeviceTime | None = None
    lat: Latitude | None = None
    lon: Longitude | None = None
    # The customer was not there to sign: they get a single-use sign-off link instead.
    remote_sign_off: bool = False


async def _held_job(ctx: Context, args: JobArgs) -> m.Job:
    """The job, locked, if the technician holds it under the epoch the device acted on."""
    ctx.job_id = args.job_id
    # The grant first: a job never the technician's is not even locked.
    job = await locked_job(ctx, args.job_id) if await was_granted(ctx, args.job_id) else None
    if job is None:
        ctx.job_id = None
        raise Rejected("unknown_job", f"job {args.job_id} is not one of yours")
    assignment = job.assignment
    if assignment is None or assignment.technician_id != ctx.technician_id or assignment.epoch != args.epoch:
        raise Rejected(
            "reassigned",
            f"the job was reassigned before this move reached the server (epoch {args.epoch})",
            flag="status_after_reassignment",
        )
    return job


async def _complete(
    ctx: Context, job: m.Job, data: completion.CompletionInput, reason: str | None
) -> Outcome:
    current = job.status
    if current is JobStatus.COMPLETED:
        done = await ctx.session.scalar(completion.current_completion(job.id))
        if done is None or done.outcome is data.outcome:
            return APPLIED  # completed already (sent twice under two ids): nothing more to record
        raise Rejected(
            "already_completed",
            f"the job was already completed as '{done.outcome}'; this completion as '{data.outcome}' was not applied",
        )
    if current not in (JobStatus.IN_PROGRESS, JobStatus.CANCELLED):
        raise Rejected(
            "illegal_transition",
            f"the job is '{current}' on the server; it cannot move to 'completed'",
            flag="illegal_transition",
        )
    if current is JobStatus.CANCELLED:
        reason = "completed in the field after cancellation"
    try:
        await completion.complete(
            ctx.session,
            ctx.keys,
            job,
            ctx.principal,
            data,
            now=ctx.now,
            technician_id=ctx.technician_id,
            reason=reason,
        )
    except DomainError as exc:
        raise Rejected("incomplete", exc.detail) from exc
    if current is JobStatus.CANCELLED:
        return Outcome(
            "applied_with_conflict",
            "completed_after_cancel",
            "the office had cancelled this job; the completion stands and the office is told",
            flag="completed_after_cancel",
        )
    return APPLIED


@mutation("job.complete.v1", CompleteArgs)
async def complete(ctx: Context, args: CompleteArgs) -> Outcome:
    job = await _held_job(ctx, args)
    data = completion.CompletionInput(
        outcome=args.outcome,
        follow_up_reason=args.follow_up_reason,
        summary=args.summary,
        reported_at=args.completed_at or ctx.reported_at,
        latitude=args.lat,
        longitude=args.lon,
        remote_sign_off=args.remote_sign_off,
    )
    return await _complete(ctx, job, data, None)


@mutation("job.transition_status.v1", TransitionArgs)
async def transition_status(ctx: Context, args: TransitionArgs) -> Outcome:
    job = await _held_job(ctx, args)
    if args.to not in FIELD_TARGETS:
        raise Rejected("illegal_transition", f"a technician may not move a job to '{args.to}'")
    if args.to is JobStatus.ON_HOLD and not args.reason:
        raise Rejected("reason_required", "a reason is required to put a job on hold")
    if args.to is JobStatus.COMPLETED:
        # An older client completing by a plain move: the outcome is the one it answered, if any.
        data = completion.CompletionInput(
            outcome=await _answered_outcome(ctx, job),
            follow_up_reason=args.reason,
            reported_at=ctx.reported_at,
        )
        return await _complete(ctx, job, data, args.reason)
    current = job.status
    if current is args.to:
        return APPLIED  # the move already holds (sent twice under two ids): nothing more to record
    if current is JobStatus.CANCELLED:
        raise Rejected("illegal_transition", "the office cancelled this job", flag="job_cancelled")
    if not job_status.is_legal(current, args.to) or not job_status.may_move(
        ctx.principal.role, current, args.to
    ):
        raise Rejected(
            "illegal_transition",
            f"the job is '{current}' on the server; it cannot move to '{args.to}'",
            flag="illegal_transition",
        )
    record_status(ctx.session, job, args.to, ctx.principal, args.reason, reported_at=ctx.reported_at)
    await customer_notices.status_changed(ctx.session, job, args.to, now=ctx.now)
    return APPLIED


async def _answered_outcome(ctx: Context, job: m.Job) -> CompletionOutcome:
    value = await ctx.session.scalar(
        sa.select(m.JobFieldValue.value).where(
            m.JobFieldValue.job_id == job.id, m.JobFieldValue.name == "outcome"
        )
    )
    return (
        CompletionOutcome.FOLLOW_UP if value == CompletionOutcome.FOLLOW_UP.value else CompletionOutcome.FIXED
    )
