"""Dependencies every controller shares: the request's transaction, the principal, paging and preconditions."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import Annotated, Any

from litestar import Request
from litestar.datastructures import State
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from api import idempotency
from api.problems import PreconditionRequired
from domain.db import write_intent
from domain.keys import ServerKeys
from domain.principal import Principal

MAX_PAGE = 200


async def provide_session(
    state: State, request: Request[Any, Any, Any]
) -> AsyncGenerator[AsyncSession, None]:
    """One transaction per request: committed after the handler succeeds, before the response is sent.

    A failed commit therefore becomes an error response, never a success the database did not keep. A POST sent
    with an Idempotency-Key stores its answer in the same transaction (see api.idempotency).
    """
    # SQLite has one write lock and its busy handler is not fair: under a burst some writers starve past the busy
    # timeout. Queueing this process's writers first (FIFO) leaves SQLite only the contention between processes.
    queue: asyncio.Lock | None = state.sqlite_writers if write_intent.get() else None
    async with queue or contextlib.nullcontext(), state.sessionmaker() as session:
        claim = await idempotency.replay_or_claim(request, session)
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            if claim is not None:
                idempotency.store(request, session, claim)
            await session.commit()


def provide_principal(request: Request[Any, Any, Any], db_session: AsyncSession) -> Principal:
    principal = request.user
    if not isinstance(principal, Principal):
        raise TypeError("a guarded route ran without a principal")
    db_session.info["actor"] = principal.actor
    return principal


Limit = Annotated[int, Parameter(ge=1, le=MAX_PAGE, description="Page size (at most 200).")]
Offset = Annotated[int, Parameter(ge=0, le=10_000_000, description="Items to skip.")]


def etag(version: int) -> str:
    return f'"{version}"'


def if_match_version(request: Request[Any, Any, Any], *, required: bool) -> int | None:
    """The version the client last saw, from `If-Match: "<version>"`; 428 when a guarded update omits it."""
    header = request.headers.get("if-match")
    if header is None:
        if required:
            raise PreconditionRequired("send If-Match with the ETag of the object you last read")
        return None
    value = header.strip().removeprefix("W/").strip('"')
    if not value.isdigit() or len(value) > 18:
        raise PreconditionRequired('If-Match must carry the ETag of the object, e.g. "3"')
    return int(value)


def provide_keys(state: State) -> ServerKeys:
    keys: ServerKeys = state.server_keys
    return keys
