"""The Litestar application factory."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.security.jwt import JWTAuth
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from api.auth import AccessToken, LoginLimiter, make_jwt_auth
from api.controllers.certificates import CHECKS_PER_MINUTE, CertificateController
from api.controllers.complaints import ComplaintController, ComplaintPolicyController, CustomerLinkController
from api.controllers.completion import CompletionController
from api.controllers.customer_pages import CustomerPageController, PublicRequestController
from api.controllers.directory import (
    CustomerController,
    ServiceTypeController,
    SiteController,
    SkillController,
    SlaPolicyController,
    TechnicianController,
    TerritoryController,
    UserController,
)
from api.controllers.fieldwork import FieldReportController, SyncExceptionController
from api.controllers.jobs import IntakeController, JobController
from api.controllers.kpis import KpiController
from api.controllers.outbox import OutboxController
from api.controllers.pages import PageController
from api.controllers.plans import PlanController
from api.controllers.slots import SlotController, on_slot_taken
from api.controllers.sync import READ_ONLY_POSTS, AttachmentController, SyncController
from api.controllers.system import SystemController
from api.controllers.warnings import WarningController
from api.deps import provide_keys, provide_principal, provide_session
from api.idempotency import KeyReused, Replay, capture_response, on_key_reused, on_replay
from api.openapi import refine
from api.planning.pool import SolverPool, fail_abandoned
from api.planning.slots import SlotTaken
from api.problems import EXCEPTION_HANDLERS
from api.settings import Settings
from api.strict_body import check_body
from api.warning_watch import start_warning_watch, stop_warning_watch
from api.worker import start_outbox_worker, stop_outbox_worker
from domain.db import create_engine, write_intent
from domain.demo import GAZETTEER
from domain.geocoding import AddressLocator, geocoder_from_config
from domain.keys import load_or_create
from domain.principal import Principal
from domain.session import AuditedSession
from sync.storage import LocalBlobStore

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
JSON_BODY_LIMIT = 256 * 1024


def write_intent_middleware(app: ASGIApp) -> ASGIApp:
    """Marks the request's transaction as a reader or a writer before anything touches the database."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            writes = scope["method"] not in SAFE_METHODS and scope["path"] not in READ_ONLY_POSTS
            token = write_intent.set(writes)
            try:
                await app(scope, receive, send)
            finally:
                write_intent.reset(token)
            return
        await app(scope, receive, send)

    return middleware


def app_state(
    settings: Settings,
    engine: AsyncEngine,
    *,
    jwt_auth: JWTAuth[Principal, AccessToken] | None = None,
    locator: AddressLocator | None = None,
) -> dict[str, Any]:
    """Everything a run of the app keeps in `app.state`: limiters, solver pool, keys, blob store... The test suite
    gives one app a fresh state per test (tests/conftest.py) instead of registering every route again; the JWT
    auth (registered with the app) and the stateless locator can be carried over."""
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False, sync_session_class=AuditedSession)
    sqlite_writers = asyncio.Lock() if engine.dialect.name == "sqlite" else None
    return {
        "settings": settings,
        "engine": engine,
        "sessionmaker": sessionmaker,
        "jwt_auth": jwt_auth or make_jwt_auth(settings),
        "login_limiter": LoginLimiter(settings.login_attempts_per_minute),
        # Made-up or altered customer links per peer address, and public requests per peer address per hour.
        "link_limiter": LoginLimiter(30, what="too many unknown links"),
        "request_limiter": LoginLimiter(5, window_s=3600, what="too many requests from this address"),
        "certificate_limiter": LoginLimiter(CHECKS_PER_MINUTE, what="too many certificate checks"),
        "sqlite_writers": sqlite_writers,
        "outbox_worker": None,
        "warning_watch": None,
        "solver_pool": SolverPool(settings.planner_workers, sessionmaker, sqlite_writers),
        "blob_store": LocalBlobStore(settings.data_dir / "attachments"),
        "server_keys": load_or_create(settings.data_dir / "keys"),
        "locator": locator
        or AddressLocator(geocoder_from_config(settings.geocoder, settings.geocoder_options, GAZETTEER)),
    }


def create_app(settings: Settings | None = None, engine: AsyncEngine | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    engine = engine or create_engine(settings.database_url)
    state = app_state(settings, engine)
    jwt_auth: JWTAuth[Principal, AccessToken] = state["jwt_auth"]

    async def dispose_engine(app: Litestar) -> None:
        await app.state.solver_pool.close()
        await app.state.engine.dispose()

    async def fail_interrupted_plans(app: Litestar) -> None:
        await fail_abandoned(app.state.sessionmaker)

    app = Litestar(
        route_handlers=[
            SystemController,
            IntakeController,
            JobController,
            PlanController,
            PageController,
            SlotController,
            SyncController,
            FieldReportController,
            CompletionController,
            CertificateController,
            ComplaintController,
            ComplaintPolicyController,
            CustomerLinkController,
            CustomerPageController,
            PublicRequestController,
            SyncExceptionController,
            OutboxController,
            KpiController,
            WarningController,
            AttachmentController,
            CustomerController,
            SiteController,
            TechnicianController,
            SkillController,
            TerritoryController,
            ServiceTypeController,
            SlaPolicyController,
            UserController,
        ],
        state=State(state),
        dependencies={
            "db_session": Provide(provide_session),
            "principal": Provide(provide_principal, sync_to_thread=False),
            "keys": Provide(provide_keys, sync_to_thread=False),
        },
        on_app_init=[jwt_auth.on_app_init],
        on_startup=[fail_interrupted_plans, start_outbox_worker, start_warning_watch],
        on_shutdown=[stop_warning_watch, stop_outbox_worker, dispose_engine],
        middleware=[write_intent_middleware],
        exception_handlers={
            **EXCEPTION_HANDLERS,
            Replay: on_replay,
            KeyReused: on_key_reused,
            SlotTaken: on_slot_taken,
        },
        after_request=capture_response,
        before_request=check_body,
        request_max_body_size=JSON_BODY_LIMIT,
        openapi_config=OpenAPIConfig(
            title="fieldwork",
            version="0.1.0",
            description="Field-service backend: intake, jobs, technicians and reference data.",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin()],
            components=Components(
                security_schemes={
                    "BearerToken": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
                }
            ),
        ),
        debug=False,
    )
    refine(app)
    return app
