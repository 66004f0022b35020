"""Everything a technician recorded on a job, as the office reads it once the phone has synced."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain import models as m
from domain.principal import Principal
from domain.services.jobs import get_job


@dataclass(frozen=True, slots=True)
class FieldReport:
    job: m.Job
    notes: list[m.JobNote]
    fields: list[m.JobFieldValue]
    parts: list[m.JobPartLine]
    time_entries: list[m.TimeEntry]
    photos: list[m.JobPhoto]
    signature: m.JobSignature | None


async def field_report(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> FieldReport:
    job = await get_job(session, principal, job_id)
    notes = await session.scalars(
        sa.select(m.JobNote).where(m.JobNote.job_id == job.id).order_by(m.JobNote.created_at, m.JobNote.id)
    )
    fields = await session.scalars(
        sa.select(m.JobFieldValue).where(m.JobFieldValue.job_id == job.id).order_by(m.JobFieldValue.name)
    )
    parts = await session.scalars(
        sa.select(m.JobPartLine).where(m.JobPartLine.job_id == job.id).order_by(m.JobPartLine.created_at)
    )
    time_entries = await session.scalars(
        sa.select(m.TimeEntry).where(m.TimeEntry.job_id == job.id).order_by(m.TimeEntry.started_at)
    )
    photos = await session.scalars(
        sa.select(m.JobPhoto).where(m.JobPhoto.job_id == job.id).order_by(m.JobPhoto.created_at)
    )
    return FieldReport(
        job=job,
        notes=list(notes),
        fields=list(fields),
        parts=list(parts),
        time_entries=list(time_entries),
        photos=list(photos),
        signature=await session.scalar(sa.select(m.JobSignature).where(m.JobSignature.job_id == job.id)),
    )
