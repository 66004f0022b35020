"""Health and authentication."""

from __future__ import annotations

from typing import Any

import msgspec
import sqlalchemy as sa
from litestar import Controller, Request, get, post
from litestar.exceptions import NotAuthorizedException
from litestar.security.jwt import JWTAuth
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import ANY_STAFF, AccessToken, LoginLimiter, authenticate, issue_token
from api.schemas.people import LoginIn, TokenOut, UserOut
from api.settings import Settings
from domain import models as m
from domain.principal import Principal


class HealthOut(msgspec.Struct, frozen=True):
    status: str
    database: str


class SystemController(Controller):
    tags = ["system"]

    @get("/health", operation_id="GetHealth", summary="Liveness and database check", exclude_from_auth=True)
    async def health(self, db_session: AsyncSession) -> HealthOut:
        await db_session.execute(sa.text("SELECT 1"))
        return HealthOut(status="ok", database="ok")

    @post(
        "/api/auth/token",
        operation_id="CreateToken",
        summary="Log in with e-mail and password",
        exclude_from_auth=True,
        status_code=200,
    )
    async def login(
        self, request: Request[Any, Any, Any], data: LoginIn, db_session: AsyncSession
    ) -> TokenOut:
        settings: Settings = request.app.state.settings
        limiter: LoginLimiter = request.app.state.login_limiter
        jwt_auth: JWTAuth[Principal, AccessToken] = request.app.state.jwt_auth
        keys = (f"peer:{request.client.host if request.client else '?'}", f"account:{data.username.lower()}")
        limiter.check(*keys)
        try:
            user = await authenticate(db_session, data.username, data.password)
        except NotAuthorizedException:
            limiter.failed(*keys)
            raise
        return TokenOut(
            access_token=issue_token(jwt_auth, settings, user),
            token_type="bearer",
            expires_in=settings.token_ttl_s,
        )

    @get("/api/me", operation_id="GetCurrentUser", summary="The logged-in user", guards=[ANY_STAFF])
    async def me(self, principal: Principal, db_session: AsyncSession) -> UserOut:
        user = await db_session.get_one(m.User, principal.user_id)
        return user_out(user)


def user_out(user: m.User) -> UserOut:
    return UserOut(
        id=user.id,
        email=user.email,
        full_name=user.full_name,
        role=user.role,
        active=user.active,
        technician_id=user.technician_id,
        territory_ids=[t.id for t in user.territories],
    )
