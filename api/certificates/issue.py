"""Issuing a certificate: for a job the caller has scoped (the customer pages), or for a member of staff."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from typing import Literal

import anyio.to_thread
from sqlalchemy.ext.asyncio import AsyncSession

from api.certificates.content import gather
from api.certificates.html import render_html
from api.certificates.pdf import render_pdf
from domain import models as m
from domain.principal import Principal
from domain.services.jobs import get_job
from sync.storage import BlobStore

Format = Literal["html", "pdf"]
MEDIA_TYPES: dict[Format, str] = {"html": "text/html; charset=utf-8", "pdf": "application/pdf"}


async def render_certificate(
    session: AsyncSession,
    blob_store: BlobStore,
    job: m.Job,
    fmt: Format,
    *,
    now: dt.datetime | None = None,
) -> tuple[bytes, str]:
    """The certificate of a job the caller may see, as (content, media type); NotSealed (409) before any seal.

    The caller scopes the job: staff through `get_job`, a customer through their link's appointment."""
    certificate = await gather(session, blob_store, job)
    issued_at = now or dt.datetime.now(dt.UTC)
    if fmt == "pdf":
        # A PDF takes a few hundred milliseconds of CPU (the font is parsed and subset): off the event loop. The
        # rows it reads are all loaded already, so the thread never touches the session.
        content = await anyio.to_thread.run_sync(
            functools.partial(render_pdf, certificate, issued_at=issued_at)
        )
    else:
        content = render_html(certificate, issued_at=issued_at)
    return content, MEDIA_TYPES[fmt]


async def staff_certificate(
    session: AsyncSession, blob_store: BlobStore, principal: Principal, job_id: uuid.UUID, fmt: Format
) -> tuple[bytes, str]:
    """GetCompletionCertificate: scoped like the field report (404 outside the caller's jobs)."""
    return await render_certificate(session, blob_store, await get_job(session, principal, job_id), fmt)


def certificate_filename(job_id: uuid.UUID, fmt: Format) -> str:
    return f"completion-certificate-{job_id}.{fmt}"
