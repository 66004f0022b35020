"""The one place where errors become RFC 9457 problem responses (`application/problem+json`)."""

from __future__ import annotations

import logging
from typing import Any

from advanced_alchemy.exceptions import (
    AdvancedAlchemyError,
    DuplicateKeyError,
    ForeignKeyError,
    IntegrityError,
)
from advanced_alchemy.exceptions import NotFoundError as AANotFound
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import IntegrityError as SAIntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import StaleDataError

from domain import errors
from sync.attachments import OffsetMismatch
from sync.errors import MutationGap, SyncError

PROBLEM = "application/problem+json"
log = logging.getLogger("fieldwork.api")


class PreconditionRequired(HTTPException):
    status_code = 428


class PreconditionFailed(HTTPException):
    status_code = 412


def problem(status: int, title: str, detail: str, **extra: Any) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }
    headers = {}
    if "retry_after" in extra:
        headers["Retry-After"] = str(extra.pop("retry_after"))
        body.pop("retry_after", None)
    return Response(body, status_code=status, media_type=PROBLEM, headers=headers)


def _field_errors(exc: ValidationException) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            found.append({"field": str(item.get("key") or "body"), "message": str(item.get("message", ""))})
    return found


def on_validation(_: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    fields = _field_errors(exc)
    detail = "; ".join(f"{f['field']}: {f['message']}" for f in fields) or exc.detail
    return problem(400, "Invalid request", detail, errors=fields)


def on_http(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    extra: dict[str, Any] = {}
    if exc.headers and "Retry-After" in exc.headers:
        extra["retry_after"] = exc.headers["Retry-After"]
    title = type(exc).__name__.removesuffix("Exception") or "Error"
    return problem(exc.status_code, title, exc.detail, **extra)


def on_domain(_: Request[Any, Any, Any], exc: errors.DomainError) -> Response[dict[str, Any]]:
    match exc:
        case errors.NotFound():
            return problem(404, "Not found", exc.detail)
        case errors.InvalidInput():
            return problem(
                422, "Invalid input", exc.detail, errors=[{"field": exc.field, "message": exc.detail}]
            )
        case errors.RulesBroken():
            return problem(
                409,
                "Hard rule broken",
                exc.detail,
                violations=[{"rule": r, "subject": s, "message": msg} for r, s, msg in exc.violations],
            )
        case errors.CompletionIncomplete():
            return problem(409, "Completion incomplete", exc.detail, missing=exc.missing)
        case errors.IllegalTransition():
            return problem(409, "Illegal transition", exc.detail, current_status=exc.current)
        case errors.StaleVersion():
            return problem(412, "Precondition failed", exc.detail, current_version=exc.current)
        case errors.Conflict():
            return problem(409, "Conflict", exc.detail)
        case errors.PermissionDenied():
            return problem(403, "Forbidden", exc.detail)
        case errors.GeocodingFailed():
            return problem(
                422, "Address not found", exc.detail, errors=[{"field": "site", "message": exc.detail}]
            )
    return problem(400, "Bad request", exc.detail)


def on_sync(_: Request[Any, Any, Any], exc: SyncError) -> Response[dict[str, Any]]:
    extra: dict[str, Any] = {}
    if isinstance(exc, MutationGap):
        extra["expected_id"] = exc.expected
    if isinstance(exc, OffsetMismatch):
        extra["received"] = exc.received
    return problem(exc.status, exc.title, exc.detail, **extra)


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of the driver error behind `exc`, however deeply advanced-alchemy wrapped it."""
    seen: BaseException | None = exc
    while seen is not None:
        state = getattr(getattr(seen, "orig", None), "sqlstate", None) or getattr(seen, "sqlstate", None)
        if isinstance(state, str):
            return state
        seen = seen.__cause__ or seen.__context__
    return None


def on_database(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    state = _sqlstate(exc)
    if state is not None and state.startswith("22"):
        # Data exceptions: a value the database cannot hold (a NUL character, a date out of its range).
        return problem(400, "Invalid value", "a value in the request cannot be stored or compared")
    if state in {"40001", "40P01"}:
        return problem(503, "Busy", "the database is busy; try again", retry_after=1)
    if state is not None and state[:2] in {"08", "53", "57"}:
        # The connection broke, the server ran out of room or is shutting down: transient, so a retry is right.
        return problem(503, "Unavailable", "the database is unavailable; try again", retry_after=1)
    match exc:
        case AANotFound():
            return problem(404, "Not found", "no such object")
        case DuplicateKeyError() | SAIntegrityError() | IntegrityError() | ForeignKeyError():
            return problem(
                409, "Conflict", "the change conflicts with existing data (a duplicate or a reference)"
            )
        case StaleDataError():
            return problem(412, "Precondition failed", "the object was changed by someone else; reload it")
        case OperationalError() if "locked" in str(exc).lower():
            return problem(503, "Busy", "the database is busy; try again", retry_after=1)
    if _caused_by(exc, OverflowError):
        return on_overflow(request, OverflowError())
    log.exception("unhandled database error on %s %s", request.method, request.url.path)
    return problem(HTTP_500_INTERNAL_SERVER_ERROR, "Internal error", "unexpected database error")


def on_overflow(_: Request[Any, Any, Any], exc: OverflowError) -> Response[dict[str, Any]]:
    return problem(400, "Value out of range", "a date or number in the request is out of the supported range")


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    if _caused_by(exc, PoolTimeout):
        # Every database connection stayed busy past the pool's wait: a burst, not a fault; come back shortly.
        return problem(503, "Busy", "the server is busy; try again", retry_after=1)
    if _caused_by(exc, OverflowError):
        return on_overflow(request, OverflowError())
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(HTTP_500_INTERNAL_SERVER_ERROR, "Internal error", "unexpected error")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ValidationException: on_validation,
    HTTPException: on_http,
    errors.DomainError: on_domain,
    SyncError: on_sync,
    AdvancedAlchemyError: on_database,
    SAIntegrityError: on_database,
    StaleDataError: on_database,
    DBAPIError: on_database,
    OverflowError: on_overflow,
    Exception: on_unexpected,
}
