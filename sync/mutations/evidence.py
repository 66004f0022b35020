"""Notes, photos, checklist answers and findings, and parts: evidence of the work, kept whatever the job's status.

Rows are made with the ids the device chose, so a mutation replayed under a new id finds its row and does nothing.
"""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec
import sqlalchemy as sa

from domain import models as m
from sync.mutations.base import (
    APPLIED,
    Args,
    Context,
    DeviceTime,
    JobArgs,
    Outcome,
    Rejected,
    Sha256,
    append_once,
    find,
    job_for_evidence,
    mutation,
    remember,
    was_granted,
)

NoteBody = Annotated[str, msgspec.Meta(min_length=1, max_length=10_000)]
FieldName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
FieldValue = Annotated[str, msgspec.Meta(max_length=10_000)] | int | float | bool | None
PartName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Quantity = Annotated[float, msgspec.Meta(gt=0, le=10_000)]

# What only the office decides: a technician's mutation naming one of them is refused.
OFFICE_FIELDS = frozenset(
    {
        "status",
        "priority",
        "technician_id",
        "assignment",
        "epoch",
        "planned_start",
        "schedule",
        "sequence",
        "time_windows",
        "appointment",
        "respond_by",
        "resolve_by",
        "duration_s",
        "territory_id",
        "service_type_id",
    }
)


class AddNoteArgs(JobArgs, frozen=True):
    note_id: uuid.UUID
    body: NoteBody
    written_at: DeviceTime | None = None


@mutation("job.add_note.v1", AddNoteArgs)
async def add_note(ctx: Context, args: AddNoteArgs) -> Outcome:
    return await append_once(ctx, args, m.JobNote, args.note_id, body=args.body, written_at=args.written_at)


class AddPhotoArgs(JobArgs, frozen=True):
    photo_id: uuid.UUID
    # The image travels on the attachment queue; the row may arrive before it.
    sha256: Sha256
    caption: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    taken_at: DeviceTime | None = None


@mutation("job.add_photo.v1", AddPhotoArgs)
async def add_photo(ctx: Context, args: AddPhotoArgs) -> Outcome:
    return await append_once(
        ctx, args, m.JobPhoto, args.photo_id, sha256=args.sha256, caption=args.caption, taken_at=args.taken_at
    )


class SetFieldsArgs(JobArgs, frozen=True):
    fields: Annotated[dict[FieldName, FieldValue], msgspec.Meta(min_length=1, max_length=100)]


@mutation("job.set_fields.v1", SetFieldsArgs)
async def set_fields(ctx: Context, args: SetFieldsArgs) -> Outcome:
    """Per field, the last write in server order wins; one made from a stale copy is applied and flagged as such,
    the value it replaced staying in the audit log."""
    forbidden = sorted(OFFICE_FIELDS & set(args.fields))
    if forbidden:
        raise Rejected("forbidden_field", f"only the office may change {', '.join(forbidden)}")
    await job_for_evidence(ctx, args)
    current = {
        row.name: row
        for row in await ctx.session.scalars(
            sa.select(m.JobFieldValue).where(
                m.JobFieldValue.job_id == args.job_id, m.JobFieldValue.name.in_(list(args.fields))
            )
        )
    }
    stale = False
    base = ctx.mutation.base_version
    if current and base is not None:
        newest = await ctx.session.scalar(
            sa.select(sa.func.max(m.SyncRow.version)).where(
                m.SyncRow.table_name == "job_field_values",
                m.SyncRow.row_id.in_([row.id for row in current.values()]),
            )
        )
        stale = newest is not None and newest > base
    for name, value in args.fields.items():
        row = current.get(name)
        if row is None:
            ctx.session.add(
                m.JobFieldValue(job_id=args.job_id, name=name, value=value, technician_id=ctx.technician_id)
            )
        elif row.value != value:
            row.value, row.technician_id = value, ctx.technician_id
    if stale:
        return Outcome(
            "applied_with_conflict",
            "stale_base_version",
            "someone changed these fields after your copy; your values were applied, theirs are in the audit log",
        )
    return APPLIED


class AddPartLineArgs(JobArgs, frozen=True):
    line_id: uuid.UUID
    part: PartName
    quantity: Quantity


class PartLineArgs(Args, frozen=True):
    line_id: uuid.UUID


class SetPartQtyArgs(PartLineArgs, frozen=True):
    quantity: Quantity


@mutation("job.add_part_line.v1", AddPartLineArgs)
async def add_part_line(ctx: Context, args: AddPartLineArgs) -> Outcome:
    if await find(ctx, m.JobPartLine, args.line_id) is None and await _was_removed(ctx, args.line_id):
        raise Rejected("line_removed", f"part line {args.line_id} was removed; a new line needs a new id")
    return await append_once(ctx, args, m.JobPartLine, args.line_id, part=args.part, quantity=args.quantity)


async def _line(ctx: Context, line_id: uuid.UUID) -> m.JobPartLine | None:
    line: m.JobPartLine | None = await find(ctx, m.JobPartLine, line_id)
    if line is None:
        return None
    ctx.job_id = line.job_id
    if not await was_granted(ctx, line.job_id):
        ctx.job_id = None
        raise Rejected("unknown_line", f"part line {line_id} is not one of yours")
    return line


async def _was_removed(ctx: Context, line_id: uuid.UUID) -> bool:
    tombstone = await ctx.session.get(m.SyncRow, ("job_part_lines", line_id))
    if tombstone is None or not tombstone.deleted or tombstone.job_id is None:
        return False
    return await was_granted(ctx, tombstone.job_id)


@mutation("job.remove_part_line.v1", PartLineArgs)
async def remove_part_line(ctx: Context, args: PartLineArgs) -> Outcome:
    line = await _line(ctx, args.line_id)
    if line is None:
        if await _was_removed(ctx, args.line_id):
            return APPLIED  # removed already: the effect holds
        raise Rejected("unknown_line", f"part line {args.line_id} is not one of yours")
    if sa.inspect(line).pending:
        await (
            ctx.session.flush()
        )  # added earlier in this push: write it, so that its removal leaves a tombstone
    await ctx.session.delete(line)
    remember(ctx, m.JobPartLine, args.line_id, None)
    return APPLIED


@mutation("job.set_part_qty.v1", SetPartQtyArgs)
async def set_part_qty(ctx: Context, args: SetPartQtyArgs) -> Outcome:
    line = await _line(ctx, args.line_id)
    if line is None:
        if await _was_removed(ctx, args.line_id):
            raise Rejected("line_removed", f"part line {args.line_id} was removed")
        raise Rejected("unknown_line", f"part line {args.line_id} is not one of yours")
    line.quantity = args.quantity
    return APPLIED
