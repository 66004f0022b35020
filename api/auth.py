"""Staff authentication (short-lived JWTs) and the role guards every route declares."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException, TooManyRequestsException
from litestar.handlers.base import BaseRouteHandler
from litestar.security.jwt import JWTAuth, Token
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.settings import Settings
from domain import models as m
from domain.db import write_intent
from domain.enums import Role
from domain.passwords import verify_password
from domain.principal import Principal

ACCESS_TOKEN_TYPE = "access"
# Paths reachable without a token. Anchored: a pattern matches from the start of the path.
PUBLIC_PATHS = [
    "^/health$",
    "^/schema",
    "^/api/auth/token$",
    "^/board$",
    "^/c/",
    "^/request$",
    "^/api/certificates/verification$",
]


@dataclass
class AccessToken(Token):
    """A staff access token; `typ` tells it from any other token the service may sign."""

    typ: str = ""
    role: str = ""


Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]


def requires(*allowed: Role) -> Guard:
    """A guard admitting only these roles; the roles are kept on the guard so tests can read them."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        # A preflight OPTIONS carries no token and reveals only the allowed methods.
        if connection.scope.get("method") == "OPTIONS":
            return
        principal = connection.scope.get("user")
        if not isinstance(principal, Principal) or principal.role not in allowed:
            raise PermissionDeniedException("your role may not use this route")

    guard.allowed_roles = frozenset(allowed)  # type: ignore[attr-defined]
    return guard


ANY_STAFF = requires(Role.ADMIN, Role.DISPATCHER, Role.TECHNICIAN)
OFFICE = requires(Role.ADMIN, Role.DISPATCHER)
ADMIN = requires(Role.ADMIN)
TECHNICIAN = requires(Role.TECHNICIAN)


async def load_principal(session: AsyncSession, user_id: uuid.UUID) -> Principal | None:
    user = await session.scalar(sa.select(m.User).where(m.User.id == user_id, m.User.active.is_(True)))
    if user is None:
        return None
    return Principal(
        user_id=user.id,
        role=user.role,
        technician_id=user.technician_id,
        territory_ids=frozenset(t.id for t in user.territories),
    )


async def _retrieve_principal(
    token: AccessToken, connection: ASGIConnection[Any, Any, Any, Any]
) -> Principal | None:
    if token.typ != ACCESS_TOKEN_TYPE:
        return None
    try:
        user_id = uuid.UUID(token.sub)
    except ValueError:
        return None
    sessionmaker: async_sessionmaker[AsyncSession] = connection.app.state.sessionmaker
    # A read: on SQLite it must not take the write lock even inside a POST.
    reset = write_intent.set(False)
    try:
        async with sessionmaker() as session:
            return await load_principal(session, user_id)
    finally:
        write_intent.reset(reset)


def make_jwt_auth(settings: Settings) -> JWTAuth[Principal, AccessToken]:
    return JWTAuth[Principal, AccessToken](
        token_cls=AccessToken,
        retrieve_user_handler=_retrieve_principal,
        token_secret=settings.jwt_secret,
        algorithm="HS256",
        exclude=PUBLIC_PATHS,
        default_token_expiration=timedelta(seconds=settings.token_ttl_s),
        accepted_issuers=[settings.jwt_issuer],
        accepted_audiences=[settings.jwt_audience],
        require_claims=["exp", "iat", "iss", "aud", "sub", "typ"],
        description="Staff access token from POST /api/auth/token.",
    )


def issue_token(auth: JWTAuth[Principal, AccessToken], settings: Settings, user: m.User) -> str:
    return auth.create_token(
        identifier=str(user.id),
        token_issuer=settings.jwt_issuer,
        token_audience=settings.jwt_audience,
        typ=ACCESS_TOKEN_TYPE,
        role=user.role.value,
    )


class LoginLimiter:
    """A sliding window (a minute unless told) of counted attempts per key: failed logins per peer address and
    per account, unknown customer links or public requests per peer address."""

    def __init__(
        self, per_minute: int, *, window_s: float = 60.0, what: str = "too many failed logins"
    ) -> None:
        self.per_minute = per_minute
        self.window_s = window_s
        self.what = what
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str, now: float) -> deque[float]:
        window = self._failures[key]
        while window and now - window[0] > self.window_s:
            window.popleft()
        return window

    def check(self, *keys: str) -> None:
        now = time.monotonic()
        for key in keys:
            window = self._recent(key, now)
            if len(window) >= self.per_minute:
                retry = max(1, int(self.window_s - (now - window[0])) + 1)
                raise TooManyRequestsException(
                    f"{self.what}; wait before trying again", headers={"Retry-After": str(retry)}
                )

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        for key in keys:
            self._recent(key, now).append(now)


async def authenticate(session: AsyncSession, email: str, password: str) -> m.User:
    user = await session.scalar(sa.select(m.User).where(m.User.email == email.strip().lower()))
    if not verify_password(user.password_hash if user else None, password) or user is None or not user.active:
        raise NotAuthorizedException("wrong e-mail or password")
    return user
