"""Strict request bodies: Litestar converts bodies leniently (a number in a string, a Unix timestamp for a
datetime); a write API should refuse them. Each handler's body struct is converted once more, strictly, before the
handler runs."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException

_json = msgspec.json.Decoder()


def _integral(value: Any) -> Any:
    """JSON has one number type: 3.0 is the integer 3 to JSON Schema, so it is to us."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_integral(v) for v in value]
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    return value


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
        msgspec.convert(_integral(_json.decode(body)), body_type, strict=True)
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
