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
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from domain import audit, changes
from domain import models as m
from domain.keys import ServerKeys
from domain.principal import Principal
from sync.devices import check_schema, device_of
from sync.errors import BadBatch, BatchTooLarge, MutationGap, MutationIdReused
from sync.mutations import REGISTRY, Context, Mutation, Outcome, Rejected
from sync.mutations.base import Args, Batch, granted_jobs, prefetch_records
from sync.protocol import MAX_BATCH, MutationIn, MutationResult, PushIn, PushOut


def _check_order(mutations: list[MutationIn]) -> None:
    if len(mutations) > MAX_BATCH:
        raise BatchTooLarge(len(mutations), MAX_BATCH)
    for before, after in itertools.pairwise(mutations):
        if after.id != before.id + 1:
            raise BadBatch(f"mutation ids must follow each other without gaps: {before.id} then {after.id}")


async def push(
    session: AsyncSession, principal: Principal, technician_id: uuid.UUID, body: PushIn, keys: ServerKeys
) -> PushOut:
    check_schema(body.schema_version)
    _check_order(body.mutations)
    try:
        return await _push(session, principal, technician_id, body, keys, guarded=False)
    except DBAPIError as exc:
        if not _refusable(exc):
            raise
        # A mutation clashed with a constraint its handler did not foresee, or carried a value the database
        # cannot hold (PostgreSQL refuses a NUL in text). Start again with each mutation in a savepoint of its own,
        # so that only that one is refused and the queue moves on: slower, and rare.
        await session.rollback()
        return await _push(session, principal, technician_id, body, keys, guarded=True)


async def _push(
    session: AsyncSession,
    principal: Principal,
    technician_id: uuid.UUID,
    body: PushIn,
    keys: ServerKeys,
    *,
    guarded: bool,
) -> PushOut:
    device = await device_of(session, technician_id, body.device_id, lock=True)
    # Before any job: the office's writes lock the audit head before the jobs they change, and so must we.
    await session.run_sync(audit.lock_head)
    now = dt.datetime.now(dt.UTC)
    if body.clock_offset_s is not None:
        device.clock_offset_s = body.clock_offset_s
    device.last_seen_at = now
    last = device.last_mutation_id
    if body.mutations and body.mutations[0].id > last + 1:
        raise MutationGap(last + 1)
    stored = await _stored(session, device.device_id, [x.id for x in body.mutations if x.id <= last])
    fresh = [x for x in body.mutations if x.id > last]
    batch = Batch(
        granted=await granted_jobs(session, technician_id), records=await prefetch_records(session, fresh)
    )
    results: list[MutationResult] = []
    records: list[m.SyncMutation] = []
    for mutation in body.mutations:
        if mutation.id <= last:
            results.append(_replayed(mutation, stored.get(mutation.id)))
            continue
        reported_at = _device_time(mutation.client_ts)
        ctx = Context(
            session, principal, technician_id, device, mutation, now, batch, keys, reported_at=reported_at
        )
        if mutation.client_ts is not None and reported_at is None:
            outcome = Outcome(
                "rejected", "invalid_client_ts", "client_ts must be an ISO 8601 time with its offset"
            )
        else:
            outcome = await (_apply_guarded(ctx) if guarded else _apply(ctx))
        records.append(
            m.SyncMutation(
                device_id=device.device_id,
                mutation_id=mutation.id,
                mutation_uuid=mutation.uuid,
                name=mutation.name,
                result=outcome.result,
                code=outcome.code,
                detail=outcome.detail,
                job_id=ctx.job_id,
                client_ts=reported_at,
                received_at=now,
            )
        )
        results.append(
            MutationResult(id=mutation.id, result=outcome.result, code=outcome.code, detail=outcome.detail)
        )
    # The bookkeeping goes in once, with the effects, in the same transaction.
    session.add_all(records)
    device.last_mutation_id = max(last, body.mutations[-1].id if body.mutations else last)
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


def _parse(ctx: Context) -> tuple[Mutation, Args] | Outcome:
    handler = REGISTRY.get(ctx.mutation.name)
    if handler is None:
        return Outcome("rejected", "unknown_mutation", f"this server does not know {ctx.mutation.name}")
    try:
        return handler, msgspec.convert(ctx.mutation.args, handler.args, strict=False)
    except msgspec.ValidationError as exc:
        return Outcome("rejected", "invalid_args", str(exc))


async def _apply(ctx: Context) -> Outcome:
    """One mutation. Handlers check everything before they write, so a refusal has nothing to undo."""
    parsed = _parse(ctx)
    if isinstance(parsed, Outcome):
        return parsed
    handler, args = parsed
    try:
        outcome = await handler.handle(ctx, args)
    except Rejected as refusal:
        outcome = Outcome("rejected", refusal.code, refusal.detail, flag=refusal.flag)
    return await _flagged(ctx, outcome)


async def _apply_guarded(ctx: Context) -> Outcome:
    """One mutation inside a savepoint: a clash with a constraint undoes its writes, not the batch's."""
    parsed = _parse(ctx)
    if isinstance(parsed, Outcome):
        return parsed
    handler, args = parsed
    savepoint = await ctx.session.begin_nested()
    # Copied after the savepoint's own flush, so that a rollback forgets exactly what the mutation touched.
    saved = changes.pending(ctx.session.sync_session).copy()
    try:
        outcome = await handler.handle(ctx, args)
        await ctx.session.flush()
    except (Rejected, DBAPIError) as exc:
        if isinstance(exc, DBAPIError) and not _refusable(exc):
            raise
        await savepoint.rollback()
        changes.restore(ctx.session.sync_session, saved)
        # A savepoint's rollback releases the locks taken in it and undoes the rows made in it.
        ctx.batch.locked.clear()
        ctx.batch.records.clear()
        ctx.batch.jobs.clear()
        if isinstance(exc, Rejected):
            outcome = Outcome("rejected", exc.code, exc.detail, flag=exc.flag)
        elif not isinstance(exc, IntegrityError):
            outcome = Outcome("rejected", "invalid_value", "a value cannot be stored (a NUL character?)")
        else:
            outcome = Outcome("rejected", "conflict", f"the change clashes with existing data: {exc.orig}")
    else:
        await savepoint.commit()
    return await _flagged(ctx, outcome)


def _device_time(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _refusable(exc: DBAPIError) -> bool:
    """A clash with a constraint or a value the database cannot hold (SQLSTATE class 22): the mutation's fault,
    refused on its own. Anything else (the connection, a deadlock) is transient and fails the whole push."""
    state = getattr(exc.orig, "sqlstate", None)
    return isinstance(exc, IntegrityError | DataError) or (isinstance(state, str) and state.startswith("22"))


async def _flagged(ctx: Context, outcome: Outcome) -> Outcome:
    if outcome.flag is not None:
        await ctx.flag(outcome.flag, outcome.detail or outcome.flag)
    return outcome
