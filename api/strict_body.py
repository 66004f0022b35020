"""Strict request bodies: Litestar converts bodies leniently (a number in a string, a Unix timestamp for a
datetime); a write API should refuse them. Each handler's body struct is decoded once more, strictly, before the
handler runs, with a decoder built once per struct."""

from __future__ import annotations

import functools
from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException


@functools.cache
def _decoder(annotation: Any) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(annotation, strict=True)


def _body_type(request: Request[Any, Any, Any]) -> Any:
    field = request.route_handler.parsed_fn_signature.parameters.get("data")
    if field is None:
        return None
    annotation = field.annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct) else None


async def check_body(request: Request[Any, Any, Any]) -> None:
    """App-wide before-request hook: a 400 naming the field for a body of the wrong types."""
    body_type = _body_type(request)
    if body_type is None:
        return
    body = await request.body()
    if not body:
        raise ValidationException("a JSON body is required", extra=[{"key": "body", "message": "missing"}])
    try:
        _decoder(body_type).decode(body)
    except msgspec.ValidationError as exc:
        message = str(exc)
        key = message.rsplit(" - at `", 1)[1].rstrip("`") if " - at `" in message else "body"
        raise ValidationException(
            message, extra=[{"key": key.removeprefix("$."), "message": message}]
        ) from exc
    except msgspec.DecodeError as exc:
        raise ValidationException(
            "the body is not valid JSON", extra=[{"key": "body", "message": str(exc)}]
        ) from exc
