"""What the generated OpenAPI document cannot know on its own: errors are problem documents, public operations
need no token, write bodies refuse unknown fields, and optimistic locking travels in `If-Match` and `ETag`."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.openapi.spec import (
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    Reference,
    Schema,
)

from api.problems import PROBLEM
from api.schemas.base import Write

PUBLIC_OPERATIONS = frozenset({"GetHealth", "CreateToken"})
# If-Match: required where a stale write must be refused outright, honoured where it is sent.
IF_MATCH = {
    "TriageJob": True,
    "TransitionJobStatus": False,
    "AssignJob": False,
    "EditPlan": True,
    "PublishPlan": True,
}
ETAG_OPERATIONS = frozenset(
    {
        "GetJob",
        "TriageJob",
        "TransitionJobStatus",
        "AssignJob",
        "CreatePlan",
        "GetPlan",
        "CancelPlan",
        "EditPlan",
        "ReoptimizePlan",
        "PublishPlan",
        "InsertEmergencyJob",
        "ReplanTechnicianAbsence",
        "ReplanOverrun",
    }
)
# Reads refused for the object's state (no slots for a job already dispatched).
READS_THAT_CONFLICT = frozenset({"ListJobSlots"})
# Operations that queue work for the solver pool, which may be full.
POOLED = frozenset({"CreatePlan", "ReoptimizePlan", "InsertEmergencyJob", "ReplanTechnicianAbsence"})

_STATUS_TEXT = {
    "400": "Malformed or mistyped request (problem document naming the field)",
    "401": "Missing, expired or invalid token",
    "403": "The caller's role may not use this operation",
    "404": "No such object within the caller's scope",
    "409": "Conflicts with the current state (an illegal move names the current status)",
    "412": "If-Match does not carry the current version",
    "422": "Well-formed but breaks a rule (the problem names the field)",
    "428": "If-Match is required",
    "429": "Too many attempts, or every solver worker is busy; see Retry-After",
    "503": "The database is busy; see Retry-After",
}

PROBLEM_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    required=["type", "title", "status", "detail"],
    properties={
        "type": Schema(type=OpenAPIType.STRING),
        "title": Schema(type=OpenAPIType.STRING),
        "status": Schema(type=OpenAPIType.INTEGER),
        "detail": Schema(type=OpenAPIType.STRING),
        "errors": Schema(
            type=OpenAPIType.ARRAY,
            items=Schema(
                type=OpenAPIType.OBJECT,
                properties={
                    "field": Schema(type=OpenAPIType.STRING),
                    "message": Schema(type=OpenAPIType.STRING),
                },
            ),
        ),
        "current_status": Schema(type=OpenAPIType.STRING),
        "current_version": Schema(type=OpenAPIType.INTEGER),
    },
    description="RFC 9457 problem details",
)


def _write_struct_names() -> set[str]:
    names, pending = set(), list(Write.__subclasses__())
    while pending:
        struct = pending.pop()
        names.add(struct.__name__)
        pending.extend(struct.__subclasses__())
    return names


def _error_codes(path: str, method: str, op: Operation) -> list[str]:
    if op.operation_id in PUBLIC_OPERATIONS:
        return ["400", "429", "401"] if op.operation_id == "CreateToken" else ["503"]
    codes = ["400", "401", "403", "503"]
    if "{" in path:
        codes.append("404")
    if method != "get":
        codes += ["409", "422"]
    elif op.parameters:
        codes.append("422")
    if op.operation_id in READS_THAT_CONFLICT:
        codes.append("409")
    if op.operation_id in IF_MATCH:
        codes += ["412", "428"]
    if op.operation_id in POOLED:
        codes.append("429")
    return codes


def refine(app: Litestar) -> None:
    document = app.openapi_schema
    assert document.components is not None
    schemas: dict[str, Any] = document.components.schemas or {}
    schemas["Problem"] = PROBLEM_SCHEMA
    problem = OpenAPIMediaType(schema=Reference(ref="#/components/schemas/Problem"))
    for name in _write_struct_names() & set(schemas):
        if isinstance(schemas[name], Schema):
            schemas[name].additional_properties = False
    for path, item in (document.paths or {}).items():
        for method in ("get", "post", "put", "patch", "delete"):
            op: Operation | None = getattr(item, method)
            if op is None:
                continue
            if op.operation_id in PUBLIC_OPERATIONS:
                op.security = []
            responses = op.responses if op.responses is not None else {}
            for code in _error_codes(path, method, op):
                responses[code] = OpenAPIResponse(description=_STATUS_TEXT[code], content={PROBLEM: problem})
            op.responses = responses
            if op.operation_id in IF_MATCH:
                op.parameters = [
                    *(op.parameters or []),
                    Parameter(
                        name="If-Match",
                        param_in="header",
                        required=IF_MATCH[str(op.operation_id)],
                        schema=Schema(type=OpenAPIType.STRING, pattern=r'^(W/)?"\d{1,18}"$'),
                        description='The ETag of the object as last read, e.g. "3"',
                    ),
                ]
            if op.operation_id in ETAG_OPERATIONS:
                for code, response in responses.items():
                    if code.startswith("2") and isinstance(response, OpenAPIResponse):
                        response.headers = {
                            **(response.headers or {}),
                            "ETag": OpenAPIHeader(
                                schema=Schema(type=OpenAPIType.STRING), description="The object's version"
                            ),
                        }
