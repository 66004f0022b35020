"""The wire structs of sync protocol v1 (see docs/sync.md). Requests forbid unknown fields; names never change
shape: a new shape is a new name."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import msgspec

SCHEMA_VERSIONS = frozenset({1})
MAX_BATCH = 500
# A push may carry 500 long notes; its body may be this large (other JSON bodies stop at 256 KiB).
MAX_PUSH_BYTES = 8 * 1024 * 1024
MAX_PAGE = 2000
DEFAULT_PAGE = 500

Result = Literal["applied", "duplicate", "rejected", "applied_with_conflict"]
Op = Literal["upsert", "delete", "remove"]


class _In(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class _Out(msgspec.Struct, frozen=True, kw_only=True):
    pass


AppVersion = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
# Any short text: a name this server does not know is refused on its own (`unknown_mutation`), not the batch.
MutationName = Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
MutationId = Annotated[int, msgspec.Meta(ge=1, le=2**53)]
SchemaVersion = Annotated[int, msgspec.Meta(ge=1, le=1000)]
ClockOffset = Annotated[float, msgspec.Meta(ge=-10 * 365 * 86400, le=10 * 365 * 86400)]


class DeviceIn(_In, frozen=True):
    device_id: uuid.UUID
    app_version: AppVersion
    schema_version: SchemaVersion


class DeviceOut(_Out, frozen=True):
    device_id: uuid.UUID
    technician_id: uuid.UUID
    last_mutation_id: int
    registered_at: dt.datetime


class MutationIn(_In, frozen=True):
    id: MutationId
    uuid: uuid.UUID
    name: MutationName
    # Checked by the mutation's own struct, so that a malformed mutation is rejected, not the whole batch.
    args: dict[str, Any]
    # Checked by the push (`invalid_client_ts` refuses that mutation alone): a device's clock data never wedges it.
    client_ts: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    base_version: Annotated[int, msgspec.Meta(ge=0)] | None = None


class PushIn(_In, frozen=True):
    device_id: uuid.UUID
    schema_version: SchemaVersion
    mutations: list[MutationIn]
    # Server minus device clock, in seconds, as the device measured it at its last pull (`server_time`).
    clock_offset_s: ClockOffset | None = None


class MutationResult(_Out, frozen=True):
    id: int
    result: Result
    code: str | None = None
    detail: str | None = None


class PushOut(_Out, frozen=True):
    results: list[MutationResult]
    last_mutation_id: int
    server_time: dt.datetime


class PullIn(_In, frozen=True):
    device_id: uuid.UUID
    schema_version: SchemaVersion
    # Opaque: null to bootstrap, then whatever the last page returned.
    cursor: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE


class Change(_Out, frozen=True):
    table: str
    op: Op
    id: uuid.UUID
    version: int
    data: dict[str, Any] | None = None


class PullOut(_Out, frozen=True):
    changes: list[Change]
    cursor: str | None
    has_more: bool
    last_mutation_id: int
    server_time: dt.datetime
    reset_required: bool = False


class TableDigest(_Out, frozen=True):
    count: int
    hash: str


class DigestOut(_Out, frozen=True):
    tables: dict[str, TableDigest]
    server_time: dt.datetime
