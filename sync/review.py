"""Exceptions for the dispatcher: what came from the field that a person should look at.

One open exception per technician, job and kind: a repeat (the same device retrying, the next step of a walk the
server refused) counts an occurrence instead of adding a line to the list.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain import models as m
from domain.errors import Conflict, NotFound
from domain.paging import page
from domain.principal import Principal
from domain.repositories import SyncExceptionRepository
from domain.scoping import visible_jobs, visible_technicians

# The kinds, each with what it means for the person reading the list.
KINDS: dict[str, str] = {
    "status_after_reassignment": "a status change made on a job that was no longer the technician's",
    "job_cancelled": "work reported on a job the office had cancelled",
    "completed_after_cancel": "a job the office cancelled was completed in the field; the completion stands",
    "illegal_transition": "a status change the job's state did not allow when it reached the server",
    "second_signature": "a second, different signature for a job already signed; the first one stands",
    "clock_skew": "the device's clock is far off; its times were kept with the measured offset",
    "time_overlap": "time entries of one technician overlap",
}


async def flag(
    session: AsyncSession,
    *,
    code: str,
    detail: str,
    technician_id: uuid.UUID,
    device_id: uuid.UUID,
    mutation_id: int,
    mutation_name: str,
    job_id: uuid.UUID | None,
    args: dict[str, Any],
) -> None:
    if code not in KINDS:
        raise ValueError(f"unknown exception kind {code!r}")
    open_one = await session.scalar(
        sa.select(m.SyncException).where(
            m.SyncException.technician_id == technician_id,
            m.SyncException.code == code,
            m.SyncException.job_id.is_(None) if job_id is None else m.SyncException.job_id == job_id,
            m.SyncException.resolved_at.is_(None),
        )
    )
    if open_one is not None:
        open_one.occurrences += 1
        open_one.detail = detail
        return
    session.add(
        m.SyncException(
            code=code,
            detail=detail,
            job_id=job_id,
            technician_id=technician_id,
            device_id=device_id,
            mutation_id=mutation_id,
            mutation_name=mutation_name,
            args=args,
            occurrences=1,
        )
    )


def _visible(principal: Principal) -> sa.Select[m.SyncException]:
    technicians = visible_technicians(principal).with_only_columns(m.Technician.id)
    jobs = visible_jobs(principal).with_only_columns(m.Job.id)
    # By the job when there is one (a technician may have moved territory since); by the technician otherwise.
    return sa.select(m.SyncException).where(
        sa.or_(
            m.SyncException.job_id.in_(jobs),
            sa.and_(m.SyncException.job_id.is_(None), m.SyncException.technician_id.in_(technicians)),
        )
    )


async def list_open(
    session: AsyncSession, principal: Principal, *, resolved: bool, limit: int, offset: int
) -> tuple[list[m.SyncException], int]:
    stmt = _visible(principal).where(
        m.SyncException.resolved_at.is_not(None) if resolved else m.SyncException.resolved_at.is_(None)
    )
    ordered = stmt.order_by(m.SyncException.created_at.desc(), m.SyncException.id)
    return await page(SyncExceptionRepository(session=session), ordered, limit=limit, offset=offset)


async def resolve(
    session: AsyncSession, principal: Principal, exception_id: uuid.UUID, resolution: str
) -> m.SyncException:
    found = await session.scalar(_visible(principal).where(m.SyncException.id == exception_id))
    if found is None:
        raise NotFound("exception", exception_id)
    if found.resolved_at is not None:
        raise Conflict("this exception was already resolved")
    found.resolved_at = dt.datetime.now(dt.UTC)
    found.resolved_by = principal.user_id
    found.resolution = resolution
    await session.flush()
    return found
