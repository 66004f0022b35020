"""Content-addressed, resumable uploads of photos and signature images, and scope-checked downloads.

A device declares the file (hash, kind, size), then sends chunks at the offset the server reports; the last chunk
is verified against the hash. An upload the connection cut resumes from the server's offset.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain import models as m
from domain.enums import Role
from domain.errors import NotFound
from domain.principal import Principal
from domain.scoping import visible_jobs
from sync.errors import SyncError
from sync.storage import BlobStore

Kind = Literal["photo", "signature"]
ContentType = Literal["image/jpeg", "image/png", "image/webp", "image/heic", "image/svg+xml"]
MAX_SIZE: dict[str, int] = {"photo": 15 * 1024 * 1024, "signature": 2 * 1024 * 1024}
CONTENT_TYPES: dict[str, frozenset[str]] = {
    "photo": frozenset({"image/jpeg", "image/png", "image/webp", "image/heic"}),
    "signature": frozenset({"image/png", "image/svg+xml", "image/webp"}),
}
MAX_CHUNK = 1024 * 1024


class AttachmentIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    sha256: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]
    kind: Kind
    content_type: ContentType
    size: Annotated[int, msgspec.Meta(ge=1, le=max(MAX_SIZE.values()))]


class AttachmentOut(msgspec.Struct, frozen=True, kw_only=True):
    sha256: str
    kind: str
    size: int
    received: int
    complete: bool


class AttachmentTooLarge(SyncError):
    """A declared size past its kind's limit (422: the request itself is small), or a chunk past the end."""

    title = "Attachment too large"


class OffsetMismatch(SyncError):
    status = 409
    title = "Wrong offset"

    def __init__(self, received: int) -> None:
        super().__init__(f"the server holds {received} bytes of this upload; send from there")
        self.received = received


class CorruptUpload(SyncError):
    status = 422
    title = "Upload does not match its hash"

    def __init__(self) -> None:
        super().__init__(
            "the bytes received do not hash to the declared sha256; the upload starts again at 0"
        )


class SizeMismatch(SyncError):
    status = 409
    title = "Attachment declared differently"


def attachment_out(found: m.Attachment) -> AttachmentOut:
    return AttachmentOut(
        sha256=found.sha256,
        kind=found.kind,
        size=found.size,
        received=found.received,
        complete=found.complete,
    )


def _reconcile(store: BlobStore, found: m.Attachment) -> None:
    """The bytes on disk decide how far an upload got: a request that failed after writing its chunk, or a
    verification that discarded a corrupt upload, leaves the row's count behind or ahead of the file."""
    if found.complete or store.has(found.sha256):
        found.received, found.complete = found.size, True
    else:
        found.received = min(found.received, store.partial_size(found.sha256))


async def declare(
    session: AsyncSession, store: BlobStore, technician_id: uuid.UUID, data: AttachmentIn
) -> tuple[m.Attachment, bool]:
    """The upload for this hash, created if new; an existing one tells the device where to resume."""
    if data.size > MAX_SIZE[data.kind]:
        raise AttachmentTooLarge(f"a {data.kind} may be at most {MAX_SIZE[data.kind]} bytes, not {data.size}")
    if data.content_type not in CONTENT_TYPES[data.kind]:
        raise SyncError(
            f"a {data.kind} must be one of {', '.join(sorted(CONTENT_TYPES[data.kind]))}, not {data.content_type}"
        )
    found = await session.scalar(sa.select(m.Attachment).where(m.Attachment.sha256 == data.sha256))
    if found is not None:
        if found.size != data.size:
            raise SizeMismatch(f"this hash was declared with {found.size} bytes, not {data.size}")
        _reconcile(store, found)
        await session.flush()
        return found, False
    found = m.Attachment(
        sha256=data.sha256,
        kind=data.kind,
        content_type=data.content_type,
        size=data.size,
        received=0,
        complete=False,
        technician_id=technician_id,
    )
    session.add(found)
    await session.flush()
    return found, True


async def append(
    session: AsyncSession, store: BlobStore, technician_id: uuid.UUID, sha256: str, offset: int, chunk: bytes
) -> m.Attachment:
    found = await session.scalar(
        sa.select(m.Attachment).where(m.Attachment.sha256 == sha256).with_for_update()
    )
    if found is None:
        raise NotFound("attachment", sha256)
    _reconcile(store, found)
    if found.complete:
        return found  # someone finished it already: the content is the same by its name
    if found.technician_id != technician_id:
        raise NotFound("attachment", sha256)
    if offset != found.received:
        raise OffsetMismatch(found.received)
    if offset + len(chunk) > found.size:
        raise AttachmentTooLarge(f"the chunk goes past the declared size of {found.size} bytes")
    if not chunk:
        raise SyncError("an empty chunk moves nothing; send the bytes from the offset")
    store.write_at(sha256, offset, chunk)
    found.received = offset + len(chunk)
    if found.received == found.size:
        if not store.finish(sha256):
            raise CorruptUpload  # the file is gone; the next request reconciles the count to 0
        found.complete = True
    await session.flush()
    return found


async def download(session: AsyncSession, principal: Principal, sha256: str) -> m.Attachment:
    """The attachment, if the caller may see a job it belongs to (or uploaded it); anyone else gets a 404."""
    found = await session.scalar(
        sa.select(m.Attachment).where(m.Attachment.sha256 == sha256, m.Attachment.complete.is_(True))
    )
    if found is None or not await _may_see(session, principal, found):
        raise NotFound("attachment", sha256)
    return found


async def _may_see(session: AsyncSession, principal: Principal, found: m.Attachment) -> bool:
    if principal.role is Role.TECHNICIAN and found.technician_id == principal.technician_id:
        return True
    if principal.role is Role.TECHNICIAN:
        jobs = sa.select(m.SyncGrant.job_id).where(
            m.SyncGrant.technician_id == principal.technician_id, m.SyncGrant.active.is_(True)
        )
    else:
        jobs = visible_jobs(principal).with_only_columns(m.Job.id)
    uses = sa.union_all(
        sa.select(m.JobPhoto.job_id).where(m.JobPhoto.sha256 == found.sha256),
        sa.select(m.JobSignature.job_id).where(m.JobSignature.sha256 == found.sha256),
    ).subquery()
    hit = await session.scalar(sa.select(sa.exists().where(uses.c.job_id.in_(jobs))))
    return bool(hit)
