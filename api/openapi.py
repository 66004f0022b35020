"""What the generated OpenAPI document cannot know on its own: errors are problem documents, public operations
need no token, write bodies refuse unknown fields, and optimistic locking travels in `If-Match` and `ETag`."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar

# Litestar's own plugin that builds the document (private module, public class; litestar is pinned below 3).
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.openapi.spec import (
    OpenAPI,
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

PUBLIC_OPERATIONS = frozenset({"GetHealth", "CreateToken", "VerifyCompletionCertificate"})
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
# Sync operations that name the caller's device in the body or query: an unknown device is a 404.
DEVICE_OPERATIONS = frozenset({"PushMutations", "PullChanges", "GetSyncDigest"})
# Reads whose query names a territory, service type or technician: one out of the caller's reach is a 404.
QUERY_SCOPED = frozenset({"GetKpis", "ExportKpis", "GetKpiCharts"})
# Operations whose payload has a size limit of its own.
SIZE_LIMITED = frozenset({"PushMutations", "DeclareAttachment", "UploadAttachmentChunk"})

_STATUS_TEXT = {
    "400": "Malformed or mistyped request (problem document naming the field)",
    "401": "Missing, expired or invalid token",
    "403": "The caller's role may not use this operation",
    "404": "No such object within the caller's scope",
    "409": "Conflicts with the current state (an illegal move names the current status)",
    "412": "If-Match does not carry the current version",
    "413": "Too large: a batch, a chunk or a file past its limit",
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


def _request_structs() -> dict[str, type[msgspec.Struct]]:
    """Every struct that refuses unknown fields, by name: the request bodies, ours and the sync protocol's."""
    found: dict[str, type[msgspec.Struct]] = {}
    pending = list(msgspec.Struct.__subclasses__())
    while pending:
        struct = pending.pop()
        pending.extend(struct.__subclasses__())
        ours = struct.__module__.split(".")[0] in {"api", "sync", "domain"}
        if ours and (issubclass(struct, Write) or struct.__struct_config__.forbid_unknown_fields):
            found[struct.__name__] = struct
    return found


_BOUNDS = {"ge": "minimum", "le": "maximum", "gt": "exclusive_minimum", "lt": "exclusive_maximum"}


def _restore_optional_bounds(struct: type[msgspec.Struct], schema: Schema) -> None:
    """Litestar drops the bounds of an optional number (`Annotated[int, Meta(ge=0)] | None`); put them back on
    the number's branch, so the document promises what the server checks."""
    info = msgspec.inspect.type_info(struct)
    assert isinstance(info, msgspec.inspect.StructType)
    for field in info.fields:
        if not isinstance(field.type, msgspec.inspect.UnionType):
            continue
        numbers = [
            t for t in field.type.types if isinstance(t, msgspec.inspect.IntType | msgspec.inspect.FloatType)
        ]
        prop = (schema.properties or {}).get(field.encode_name)
        if len(numbers) != 1 or not isinstance(prop, Schema) or not prop.one_of:
            continue
        for branch in prop.one_of:
            if isinstance(branch, Schema) and branch.type in (OpenAPIType.INTEGER, OpenAPIType.NUMBER):
                for bound, key in _BOUNDS.items():
                    value = getattr(numbers[0], bound)
                    if value is not None:
                        setattr(branch, key, value)


def _error_codes(path: str, method: str, op: Operation) -> list[str]:
    if op.operation_id == "VerifyCompletionCertificate":
        return ["413", "422", "429", "503"]
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
    if op.operation_id in DEVICE_OPERATIONS | QUERY_SCOPED and "404" not in codes:
        codes.append("404")
    if op.operation_id in SIZE_LIMITED:
        codes.append("413")
    return codes


_BUILT: list[OpenAPI] = []


def refine(app: Litestar) -> None:
    """Give the app the refined document. Every app this process makes has the same routes, so the document is
    built and refined once and handed to the next apps as it is: building it costs more than the rest of an app
    together, and the tests make an app each."""
    plugin = app.plugins.get(OpenAPIPlugin)
    if _BUILT:
        plugin._openapi = _BUILT[0]
        return
    document = plugin.provide_openapi()
    _refine(document)
    _BUILT.append(document)


def _refine(document: OpenAPI) -> None:
    assert document.components is not None
    schemas: dict[str, Any] = document.components.schemas or {}
    schemas["Problem"] = PROBLEM_SCHEMA
    problem = OpenAPIMediaType(schema=Reference(ref="#/components/schemas/Problem"))
    for name, struct in _request_structs().items():
        if isinstance(schemas.get(name), Schema):
            schemas[name].additional_properties = False
            _restore_optional_bounds(struct, schemas[name])
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
