"""Completion certificates: staff read a job's certificate; anyone holding one may have it checked."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    RequestBody,
    Schema,
)
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import ANY_STAFF, LoginLimiter
from api.certificates import (
    Format,
    VerificationReport,
    certificate_filename,
    staff_certificate,
    verify_certificate,
)
from api.controllers.sync import snapshot
from api.problems import PROBLEM
from domain.principal import Principal

VERIFY_PATH = "/api/certificates/verification"
# A certificate carries the signature image (at most 2 MiB, a third more in the page's base64) and two snapshots
# of the job's record.
MAX_CERTIFICATE_BYTES = 8 * 1024 * 1024
CHECKS_PER_MINUTE = 30

_TEXT = Schema(type=OpenAPIType.STRING)
_BINARY = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
_PROBLEM = OpenAPIMediaType(schema=Reference(ref="#/components/schemas/Problem"))


@dataclass
class _CertificateOperation(Operation):
    """The document cannot infer a handler's two media types, nor the 409 for a job not sealed yet."""

    def __post_init__(self) -> None:
        self.responses = {
            **(self.responses or {}),
            "200": OpenAPIResponse(
                description="The certificate: an HTML page (default) or a PDF with the seals attached",
                content={
                    "text/html": OpenAPIMediaType(schema=_TEXT),
                    "application/pdf": OpenAPIMediaType(schema=_BINARY),
                },
            ),
            "409": OpenAPIResponse(description="The job has no seal yet", content={PROBLEM: _PROBLEM}),
        }


@dataclass
class _VerificationOperation(Operation):
    """The body is the certificate file itself, read raw, which the document cannot infer from the handler."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description=f"The certificate file as it was issued, at most {MAX_CERTIFICATE_BYTES // 2**20} MiB",
            content={
                "text/html": OpenAPIMediaType(schema=_TEXT),
                "application/pdf": OpenAPIMediaType(schema=_BINARY),
            },
        )


class CertificateController(Controller):
    tags = ["completion"]

    @get(
        "/api/jobs/{job_id:uuid}/certificate",
        operation_id="GetCompletionCertificate",
        guards=[ANY_STAFF],
        summary="A job's completion certificate, as an HTML page or a PDF",
        description=(
            "The work, checklist, notes, parts, times, photos, the customer's signature and the job's seals. The "
            "office sees its territories' jobs, a technician their own; 409 before the job has any seal (the "
            "customer has not signed and the job is not completed)."
        ),
        operation_class=_CertificateOperation,
    )
    async def get_certificate(
        self,
        request: Request[Any, Any, Any],
        job_id: uuid.UUID,
        principal: Principal,
        db_session: AsyncSession,
        fmt: Annotated[
            Format, Parameter(query="format", description="`html` (default) or `pdf`", required=False)
        ] = "html",
    ) -> Response[bytes]:
        await snapshot(db_session)
        content, media_type = await staff_certificate(
            db_session, request.app.state.blob_store, principal, job_id, fmt
        )
        headers = {
            "Content-Disposition": f'inline; filename="{certificate_filename(job_id, fmt)}"',
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        }
        if fmt == "html":
            # The page carries what was typed in the field; it needs no script, no fetch, only its inline
            # style and the signature as a data: image.
            headers["Content-Security-Policy"] = (
                "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
            )
        return Response(content, media_type=media_type, headers=headers)

    @post(
        VERIFY_PATH,
        operation_id="VerifyCompletionCertificate",
        summary="Check a completion certificate against the record the server holds",
        description=(
            "Public: whoever holds a certificate may check it. Send the HTML or PDF file as the body. The answer "
            "says, seal by seal, whether the seal is one this server made and whether the record it sealed (and "
            "the signature image) changed since; `valid` is false when anything was altered, items recorded "
            "after a seal are listed in `added` only. A file that is not a certificate is a 422. "
            f"At most {CHECKS_PER_MINUTE} checks a minute per address."
        ),
        status_code=200,
        request_max_body_size=MAX_CERTIFICATE_BYTES,
        operation_class=_VerificationOperation,
    )
    async def verify(self, request: Request[Any, Any, Any]) -> VerificationReport:
        state = request.app.state
        limiter: LoginLimiter = state.certificate_limiter
        peer = f"peer:{request.client.host if request.client else '?'}"
        limiter.check(peer)
        limiter.failed(peer)  # every check counts, not only the failed ones
        data = await request.body()
        # Its own session: the request's would begin as a writer (this is a POST) and queue behind SQLite's
        # writers, while a check only reads.
        async with state.sessionmaker() as session:
            return await verify_certificate(session, state.server_keys, state.blob_store, data)
