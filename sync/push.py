"""Push: apply a device's mutations exactly once, in its order, in one transaction.

The device's `last_mutation_id` moves in the same transaction as the effects, so a push whose answer was lost is
answered again from the stored results when the device retries. A domain refusal is recorded and consumed (the
queue never wedges); anything else (the database gone) rolls the whole batch back and the device retries it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

import msgspec
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from domain import changes
from domain import models as m
from domain.principal import Principal
from sync.devices import check_schema, device_of
from sync.errors import BadBatch, BatchTooLarge, MutationGap, MutationIdReused
from sync.mutations import REGISTRY, Context, Outcome, Rejected
from sync.protocol import MAX_BATCH, MutationIn, MutationResult, PushIn, PushOut


def _check_order(mutations: list[MutationIn]) -> None:
    if len(mutations) > MAX_BATCH:
        raise BatchTooLarge(len(mutations), MAX_BATCH)
    for before, after in itertools.pairwise(mutations):
        if after.id != before.id + 1:
            raise BadBatch(f"mutation ids must follow each other without gaps: {before.id} then {after.id}")


async def push(
    session: AsyncSession, principal: Principal, technician_id: uuid.UUID, body: PushIn
) -> PushOut:
    check_schema(body.schema_version)
    _check_order(body.mutations)
    device = await device_of(session, technician_id, body.device_id, lock=True)
    now = dt.datetime.now(dt.UTC)
    if body.clock_offset_s is not None:
        device.clock_offset_s = body.clock_offset_s
    device.last_seen_at = now
    last = device.last_mutation_id
    if body.mutations and body.mutations[0].id > last + 1:
        raise MutationGap(last + 1)
    stored = await _stored(session, device.device_id, [x.id for x in body.mutations if x.id <= last])
    results: list[MutationResult] = []
    for mutation in body.mutations:
        if mutation.id <= last:
            results.append(_replayed(mutation, stored.get(mutation.id)))
            continue
        ctx = Context(session, principal, technician_id, device, mutation, now)
        outcome = await _apply(ctx)
        session.add(
            m.SyncMutation(
                device_id=device.device_id,
                mutation_id=mutation.id,
                mutation_uuid=mutation.uuid,
                name=mutation.name,
                result=outcome.result,
                code=outcome.code,
                detail=outcome.detail,
                job_id=ctx.job_id,
                client_ts=mutation.client_ts,
                received_at=now,
            )
        )
        device.last_mutation_id = mutation.id
        results.append(
            MutationResult(id=mutation.id, result=outcome.result, code=outcome.code, detail=outcome.detail)
        )
    await session.flush()
    return PushOut(results=results, last_mutation_id=device.last_mutation_id, server_time=now)


async def _stored(session: AsyncSession, device_id: uuid.UUID, ids: list[int]) -> dict[int, m.SyncMutation]:
    if not ids:
        return {}
    found = await session.scalars(
        sa.select(m.SyncMutation).where(
            m.SyncMutation.device_id == device_id, m.SyncMutation.mutation_id.between(min(ids), max(ids))
        )
    )
    return {row.mutation_id: row for row in found}


def _replayed(mutation: MutationIn, record: m.SyncMutation | None) -> MutationResult:
    if record is None or record.mutation_uuid != mutation.uuid:
        raise MutationIdReused(mutation.id)
    return MutationResult(
        id=mutation.id, result="duplicate", code=record.code or record.result, detail=record.detail
    )


async def _apply(ctx: Context) -> Outcome:
    """One mutation inside a savepoint: a refusal or a clash with a constraint undoes its writes, not the batch's."""
    handler = REGISTRY.get(ctx.mutation.name)
    if handler is None:
        return Outcome("rejected", "unknown_mutation", f"this server does not know {ctx.mutation.name}")
    try:
        args = msgspec.convert(ctx.mutation.args, handler.args, strict=False)
    except msgspec.ValidationError as exc:
        return Outcome("rejected", "invalid_args", str(exc))
    saved = changes.pending(ctx.session.sync_session).copy()
    savepoint = await ctx.session.begin_nested()
    try:
        outcome = await handler.handle(ctx, args)
        await ctx.session.flush()
    except Rejected as refusal:
        await savepoint.rollback()
        changes.restore(ctx.session.sync_session, saved)
        outcome = Outcome("rejected", refusal.code, refusal.detail, flag=refusal.flag)
    except IntegrityError as exc:
        await savepoint.rollback()
        changes.restore(ctx.session.sync_session, saved)
        outcome = Outcome("rejected", "conflict", f"the change clashes with existing data: {exc.orig}")
    else:
        await savepoint.commit()
    if outcome.flag is not None:
        await ctx.flag(outcome.flag, outcome.detail or outcome.flag)
    return outcome
