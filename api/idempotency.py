"""`Idempotency-Key` on online writes: the first answer is stored in the same transaction as the write and replayed
for a retry; the same key with another body is a 422.

The record and the write commit together, so a retry either finds the answer or finds nothing was written. Two
copies of one request racing each other both run, but only one can commit its record: the other is rolled back
and answered 409.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import hashlib
from typing import Any

import sqlalchemy as sa
from litestar import Request, Response
from litestar.serialization import get_serializer
from sqlalchemy.ext.asyncio import AsyncSession

from api.problems import problem
from domain import models as m
from domain.db import write_intent
from domain.principal import Principal

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 200
RETENTION = dt.timedelta(hours=24)
REPLAYED_HEADERS = ("content-type", "etag", "location")

# The response a handler produced, for the session's clean-up to store before it commits.
last_response: contextvars.ContextVar[Response[Any] | None] = contextvars.ContextVar(
    "last_response", default=None
)


class Replay(Exception):  # not an error: the answer to a retried request
    def __init__(self, response: Response[Any]) -> None:
        super().__init__("replayed")
        self.response = response


class KeyReused(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def on_replay(_: Request[Any, Any, Any], exc: Replay) -> Response[Any]:
    return exc.response


def on_key_reused(_: Request[Any, Any, Any], exc: KeyReused) -> Response[Any]:
    return problem(
        422,
        "Idempotency key reused",
        exc.detail,
        errors=[{"field": "Idempotency-Key", "message": exc.detail}],
    )


async def capture_response(response: Response[Any]) -> Response[Any]:
    """App-wide after-request hook: runs in the request's context, before the transaction commits."""
    last_response.set(response)
    return response


async def _fingerprint(request: Request[Any, Any, Any]) -> str:
    digest = hashlib.sha256(f"{request.method} {request.url.path}\n".encode())
    digest.update(await request.body())
    return digest.hexdigest()


async def replay_or_claim(request: Request[Any, Any, Any], session: AsyncSession) -> tuple[str, str] | None:
    """Before the handler: replay a stored answer, refuse a reused key, or return (key, fingerprint) to store."""
    key = request.headers.get(HEADER)
    principal = request.scope.get("user")
    if (
        key is None
        or request.method != "POST"
        or not isinstance(principal, Principal)
        or not write_intent.get()
    ):
        return None  # a POST that only reads (a sync pull) has nothing to replay
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise KeyReused(f"an Idempotency-Key is 1 to {MAX_KEY_LENGTH} characters")
    fingerprint = await _fingerprint(request)
    record = await session.scalar(
        sa.select(m.IdempotencyRecord).where(
            m.IdempotencyRecord.user_id == principal.user_id, m.IdempotencyRecord.key == key
        )
    )
    if record is not None and record.created_at < dt.datetime.now(dt.UTC) - RETENTION:
        await session.delete(record)
        await session.flush()
        record = None
    if record is None:
        last_response.set(None)
        return key, fingerprint
    if record.request_hash != fingerprint:
        raise KeyReused("this Idempotency-Key was used for another request; use a new key for a new request")
    raise Replay(
        Response(
            record.response_body,
            status_code=record.status_code,
            headers={**record.response_headers, "Idempotent-Replayed": "true"},
        )
    )


def store(request: Request[Any, Any, Any], session: AsyncSession, claim: tuple[str, str]) -> None:
    """After the handler, before the commit: keep a successful answer with the write."""
    response = last_response.get()
    principal = request.scope.get("user")
    status = response.status_code if response is not None else None
    if response is None or status is None or not 200 <= status < 300 or not isinstance(principal, Principal):
        return
    media_type = str(response.media_type)
    body = response.render(response.content, media_type, get_serializer(response.response_type_encoders))
    headers = {k: v for k, v in response.headers.items() if k.lower() in REPLAYED_HEADERS}
    headers.setdefault("content-type", media_type)
    key, fingerprint = claim
    session.add(
        m.IdempotencyRecord(
            user_id=principal.user_id,
            key=key,
            method=request.method,
            path=request.url.path,
            request_hash=fingerprint,
            status_code=status,
            response_body=body,
            response_headers=headers,
        )
    )
