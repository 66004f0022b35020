"""What a completion certificate shows, gathered from the database for one job the caller may see."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from api.certificates.display import zone
from domain import models as m
from domain.errors import Conflict
from domain.sealing import seal_document
from domain.services.completion import current_completion
from sync.attachments import CONTENT_TYPES
from sync.storage import BlobStore


class NotSealed(Conflict):
    """A certificate is only issued for a job with at least one seal (signature captured or job completed)."""

    def __init__(self, job_id: object) -> None:
        super().__init__(
            f"job {job_id} has no seal yet: its certificate exists once the customer has signed or the job is "
            "completed"
        )


@dataclass(frozen=True, slots=True)
class SignatureView:
    row: m.JobSignature
    # None while the phone has not uploaded the image yet.
    image: bytes | None
    media_type: str | None


@dataclass(frozen=True, slots=True)
class Certificate:
    job: m.Job
    service_type: str | None
    customer_name: str
    site_address: str
    technician_name: str | None
    tz: dt.tzinfo
    answers: list[m.JobFieldValue]
    notes: list[m.JobNote]
    parts: list[m.JobPartLine]
    time_entries: list[m.TimeEntry]
    photos: list[m.JobPhoto]
    completion: m.JobCompletion | None
    signature: SignatureView | None
    seals: list[m.Seal]

    def seal_documents(self) -> list[dict[str, Any]]:
        return [seal_document(seal) for seal in self.seals]


async def _signature(session: AsyncSession, blob_store: BlobStore, job: m.Job) -> SignatureView | None:
    row = await session.scalar(sa.select(m.JobSignature).where(m.JobSignature.job_id == job.id))
    if row is None:
        return None
    stored = await session.scalar(
        sa.select(m.Attachment).where(m.Attachment.sha256 == row.sha256, m.Attachment.complete.is_(True))
    )
    if stored is None or not blob_store.has(row.sha256):
        return SignatureView(row=row, image=None, media_type=None)
    # Only the types a signature may be uploaded as are drawn; anything else is shown by its hash.
    media_type = stored.content_type if stored.content_type in CONTENT_TYPES["signature"] else None
    return SignatureView(row=row, image=blob_store.read(row.sha256), media_type=media_type)


async def _technician_name(
    session: AsyncSession, job: m.Job, completion: m.JobCompletion | None
) -> str | None:
    """Who did the work: the one who completed it, else the one it is assigned to."""
    technician_id = completion.technician_id if completion is not None else None
    if technician_id is None and job.assignment is not None:
        technician_id = job.assignment.technician_id
    if technician_id is None:
        return None
    technician = await session.get(m.Technician, technician_id)
    return technician.name if technician is not None else None


async def gather(session: AsyncSession, blob_store: BlobStore, job: m.Job) -> Certificate:
    """The certificate's content for a job the caller has already scoped; NotSealed when nothing is sealed."""
    seals = list(
        await session.scalars(
            sa.select(m.Seal).where(m.Seal.job_id == job.id).order_by(m.Seal.sealed_at, m.Seal.created_at)
        )
    )
    if not seals:
        raise NotSealed(job.id)

    async def rows(model: Any, *order: Any) -> list[Any]:
        return list(await session.scalars(sa.select(model).where(model.job_id == job.id).order_by(*order)))

    site = await session.get_one(m.Site, job.site_id)
    customer = await session.get_one(m.Customer, job.customer_id)
    territory = await session.get(m.Territory, job.territory_id)
    service_type = await session.get(m.ServiceType, job.service_type_id) if job.service_type_id else None
    completion = await session.scalar(current_completion(job.id))
    return Certificate(
        job=job,
        service_type=service_type.name if service_type is not None else None,
        customer_name=customer.name,
        site_address=site.address,
        technician_name=await _technician_name(session, job, completion),
        tz=zone(territory.timezone if territory is not None else None),
        answers=await rows(m.JobFieldValue, m.JobFieldValue.name),
        notes=await rows(m.JobNote, m.JobNote.created_at, m.JobNote.id),
        parts=await rows(m.JobPartLine, m.JobPartLine.created_at, m.JobPartLine.id),
        time_entries=await rows(m.TimeEntry, m.TimeEntry.started_at, m.TimeEntry.id),
        photos=await rows(m.JobPhoto, m.JobPhoto.created_at, m.JobPhoto.id),
        completion=completion,
        signature=await _signature(session, blob_store, job),
        seals=seals,
    )
