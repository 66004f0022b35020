"""Time entries (the technician's own, never dropped, doubtful ones flagged) and the customer's signature (the
first capture wins and never changes)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

import msgspec
import sqlalchemy as sa

from domain import models as m
from domain.enums import SealKind
from domain.sealing import seal_job
from sync.mutations.base import (
    APPLIED,
    Args,
    Context,
    DeviceTime,
    JobArgs,
    Latitude,
    Longitude,
    Outcome,
    Rejected,
    Sha256,
    append_once,
    find,
    job_for_evidence,
    mutation,
)

# A device clock further off than this is worth a person's look: its times were corrected by the offset.
SKEW_TOLERANCE_S = 300.0


class TimeStartArgs(JobArgs, frozen=True):
    entry_id: uuid.UUID
    started_at: DeviceTime


class TimeStopArgs(Args, frozen=True):
    entry_id: uuid.UUID
    ended_at: DeviceTime


def _on_server_clock(moment: dt.datetime, offset_s: float) -> dt.datetime:
    return moment + dt.timedelta(seconds=offset_s)


async def _overlaps(ctx: Context, entry: m.TimeEntry) -> bool:
    """Whether another of the technician's entries covers part of this one, both on the server's clock."""
    start = _on_server_clock(entry.started_at, entry.clock_offset_s)
    end = _on_server_clock(entry.ended_at, entry.clock_offset_s) if entry.ended_at else None
    others = await ctx.session.scalars(
        sa.select(m.TimeEntry).where(
            m.TimeEntry.technician_id == ctx.technician_id, m.TimeEntry.id != entry.id
        )
    )
    for other in others:
        o_start = _on_server_clock(other.started_at, other.clock_offset_s)
        o_end = _on_server_clock(other.ended_at, other.clock_offset_s) if other.ended_at else None
        if (end is None or o_start < end) and (o_end is None or start < o_end):
            return True
    return False


async def _check(ctx: Context, entry: m.TimeEntry) -> Outcome:
    if entry.ended_at is not None and entry.ended_at < entry.started_at:
        entry.flag = "ends_before_start"
    elif abs(entry.clock_offset_s) > SKEW_TOLERANCE_S:
        entry.flag = "clock_skew"
        await ctx.flag("clock_skew", f"the device clock is {entry.clock_offset_s:+.0f} s off the server's")
    elif await _overlaps(ctx, entry):
        entry.flag = "time_overlap"
        await ctx.flag("time_overlap", f"time entry {entry.id} overlaps another of the technician's")
    else:
        entry.flag = None
    return APPLIED


@mutation("time.start.v1", TimeStartArgs)
async def time_start(ctx: Context, args: TimeStartArgs) -> Outcome:
    known = await ctx.session.get(m.TimeEntry, args.entry_id) is not None
    outcome = await append_once(
        ctx,
        args,
        m.TimeEntry,
        args.entry_id,
        started_at=args.started_at,
        clock_offset_s=ctx.device.clock_offset_s,
    )
    if known:
        return outcome
    entry = await ctx.session.get_one(m.TimeEntry, args.entry_id)
    return await _check(ctx, entry)


@mutation("time.stop.v1", TimeStopArgs)
async def time_stop(ctx: Context, args: TimeStopArgs) -> Outcome:
    entry: m.TimeEntry | None = await find(ctx, m.TimeEntry, args.entry_id)
    if entry is None or entry.technician_id != ctx.technician_id:
        raise Rejected("unknown_entry", f"time entry {args.entry_id} is not one of yours")
    ctx.job_id = entry.job_id
    if entry.ended_at == args.ended_at:
        return APPLIED
    entry.ended_at = args.ended_at
    return await _check(ctx, entry)


class SignatureArgs(JobArgs, frozen=True):
    sha256: Sha256
    signer_name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    captured_at: DeviceTime
    lat: Latitude | None = None
    lon: Longitude | None = None


@mutation("job.capture_signature.v1", SignatureArgs)
async def capture_signature(ctx: Context, args: SignatureArgs) -> Outcome:
    job = await job_for_evidence(ctx, args)
    existing = await ctx.session.scalar(sa.select(m.JobSignature).where(m.JobSignature.job_id == args.job_id))
    if existing is not None:
        if existing.sha256 == args.sha256:
            return Outcome("duplicate", "already_signed", "this signature was already captured")
        raise Rejected(
            "already_signed",
            "the job already has a different signature; the first one stands",
            flag="second_signature",
        )
    ctx.session.add(
        m.JobSignature(
            job_id=args.job_id,
            technician_id=ctx.technician_id,
            sha256=args.sha256,
            signer_name=args.signer_name,
            captured_at=args.captured_at,
            latitude=args.lat,
            longitude=args.lon,
        )
    )
    # Sealed as it is captured: the image's hash and the job's record as the customer saw it when signing.
    await seal_job(ctx.session, ctx.keys, job, SealKind.SIGNATURE, now=ctx.now)
    return APPLIED
