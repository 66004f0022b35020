"""Keeping scope and history bounded: finished jobs leave a technician's scope after a window, and tombstones
older than the horizon are pruned (a cursor from before them must start again: `reset_required`).

Both run from `fieldwork sync maintain`, daily from cron or a timer (docs/operations.md).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain import changes
from domain import models as m
from domain.enums import JobStatus

# A finished job stays on the phone this long after its day, so the technician can look back at recent work.
KEEP_FINISHED = dt.timedelta(days=30)
# Longer than any offline period we support: a device away longer starts again from a fresh copy.
TOMBSTONE_HORIZON = dt.timedelta(days=90)
FINISHED = (JobStatus.COMPLETED, JobStatus.CLOSED, JobStatus.CANCELLED)


@dataclass(frozen=True, slots=True)
class Maintenance:
    revoked: int
    pruned_tombstones: int
    pruned_grants: int
    pruned_below: int


async def revoke_finished(session: AsyncSession, now: dt.datetime) -> int:
    """Take finished jobs whose day is past the window out of every scope, as versioned revokes."""
    day = sa.func.coalesce(m.Assignment.planned_start, m.Job.resolve_by)
    stale = list(
        await session.execute(
            sa.select(m.SyncGrant.technician_id, m.SyncGrant.job_id)
            .join(m.Job, m.Job.id == m.SyncGrant.job_id)
            .outerjoin(m.Assignment, m.Assignment.job_id == m.Job.id)
            .where(m.SyncGrant.active.is_(True), m.Job.status.in_(FINISHED), day < now - KEEP_FINISHED)
        )
    )
    if not stale:
        return 0
    version = await session.run_sync(changes.next_version)
    for technician_id, job_id in stale:
        await session.execute(
            sa.update(m.SyncGrant)
            .where(m.SyncGrant.technician_id == technician_id, m.SyncGrant.job_id == job_id)
            .values(active=False, version=version, changed_at=now)
        )
    return len(stale)


async def prune(
    session: AsyncSession, now: dt.datetime, horizon: dt.timedelta = TOMBSTONE_HORIZON
) -> Maintenance:
    cutoff = now - horizon
    old_rows = sa.and_(m.SyncRow.deleted.is_(True), m.SyncRow.changed_at < cutoff)
    old_grants = sa.and_(m.SyncGrant.active.is_(False), m.SyncGrant.changed_at < cutoff)
    newest = max(
        await session.scalar(sa.select(sa.func.max(m.SyncRow.version)).where(old_rows)) or 0,
        await session.scalar(sa.select(sa.func.max(m.SyncGrant.version)).where(old_grants)) or 0,
    )
    rows = await session.execute(sa.delete(m.SyncRow).where(old_rows))
    grants = await session.execute(sa.delete(m.SyncGrant).where(old_grants))
    space = await session.get(m.SyncSpace, changes.SPACE_ID, with_for_update=True)
    if space is None:
        return Maintenance(0, 0, 0, 0)
    space.pruned_below = max(space.pruned_below, newest)
    await session.flush()
    return Maintenance(0, rows.rowcount or 0, grants.rowcount or 0, space.pruned_below)  # type: ignore[attr-defined]


async def maintain(
    session: AsyncSession, now: dt.datetime, horizon: dt.timedelta = TOMBSTONE_HORIZON
) -> Maintenance:
    revoked = await revoke_finished(session, now)
    pruned = await prune(session, now, horizon)
    return Maintenance(revoked, pruned.pruned_tombstones, pruned.pruned_grants, pruned.pruned_below)
