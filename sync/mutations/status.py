"""`job.transition_status.v1`: a technician's status move, validated against the server's state of the job."""

from __future__ import annotations

from typing import Annotated

import msgspec

from domain import job_status
from domain.enums import JobStatus
from domain.services.jobs import record_status
from sync.mutations.base import (
    APPLIED,
    Context,
    JobArgs,
    Outcome,
    Rejected,
    locked_job,
    mutation,
    was_granted,
)

FIELD_TARGETS = frozenset(to for _, to in job_status.TECHNICIAN_MOVES)


class TransitionArgs(JobArgs, frozen=True):
    to: JobStatus
    reason: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


@mutation("job.transition_status.v1", TransitionArgs)
async def transition_status(ctx: Context, args: TransitionArgs) -> Outcome:
    ctx.job_id = args.job_id
    # The grant first: a job never the technician's is not even locked.
    job = await locked_job(ctx, args.job_id) if await was_granted(ctx, args.job_id) else None
    if job is None:
        ctx.job_id = None
        raise Rejected("unknown_job", f"job {args.job_id} is not one of yours")
    if args.to not in FIELD_TARGETS:
        raise Rejected("illegal_transition", f"a technician may not move a job to '{args.to}'")
    if args.to is JobStatus.ON_HOLD and not args.reason:
        raise Rejected("reason_required", "a reason is required to put a job on hold")
    assignment = job.assignment
    if assignment is None or assignment.technician_id != ctx.technician_id or assignment.epoch != args.epoch:
        raise Rejected(
            "reassigned",
            f"the job was reassigned before this move reached the server (epoch {args.epoch})",
            flag="status_after_reassignment",
        )
    current = job.status
    if current is args.to:
        return APPLIED  # the move already holds (sent twice under two ids): nothing more to record
    reported = ctx.reported_at
    if current is JobStatus.CANCELLED:
        if args.to is JobStatus.COMPLETED:
            record_status(
                ctx.session,
                job,
                args.to,
                ctx.principal,
                "completed in the field after cancellation",
                reported_at=reported,
            )
            return Outcome(
                "applied_with_conflict",
                "completed_after_cancel",
                "the office had cancelled this job; the completion stands and the office is told",
                flag="completed_after_cancel",
            )
        raise Rejected("illegal_transition", "the office cancelled this job", flag="job_cancelled")
    if not job_status.is_legal(current, args.to) or not job_status.may_move(
        ctx.principal.role, current, args.to
    ):
        raise Rejected(
            "illegal_transition",
            f"the job is '{current}' on the server; it cannot move to '{args.to}'",
            flag="illegal_transition",
        )
    record_status(ctx.session, job, args.to, ctx.principal, args.reason, reported_at=reported)
    return APPLIED
