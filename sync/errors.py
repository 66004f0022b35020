"""Why a sync request as a whole is refused; each maps to one problem response in api/problems.py."""

from __future__ import annotations

from domain.errors import DomainError


class SyncError(DomainError):
    """Well-formed but refused (422 unless a subclass says otherwise)."""

    status = 422
    title = "Sync request refused"


class UnknownDevice(SyncError):
    status = 404
    title = "Unknown device"

    def __init__(self) -> None:
        super().__init__("this device is not registered to you; register it with POST /api/sync/v1/devices")


class DeviceTaken(SyncError):
    status = 409
    title = "Device registered to someone else"

    def __init__(self) -> None:
        super().__init__("this device id is registered to another technician; a new install needs a new id")


class UnsupportedSchema(SyncError):
    title = "Unsupported schema version"

    def __init__(self, version: int, supported: frozenset[int]) -> None:
        super().__init__(f"schema version {version} is not supported; this server speaks {sorted(supported)}")


class BadBatch(SyncError):
    title = "Malformed batch"


class BatchTooLarge(SyncError):
    status = 413
    title = "Batch too large"

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"a push carries at most {limit} mutations, this one {size}; send the rest next")


class MutationGap(SyncError):
    """The device skipped ids: nothing after a gap is applied, so that per-device order holds."""

    status = 409
    title = "Mutations missing"

    def __init__(self, expected: int) -> None:
        super().__init__(f"the server expects mutation {expected} next; push from there")
        self.expected = expected


class MutationIdReused(SyncError):
    status = 409
    title = "Mutation id reused"

    def __init__(self, mutation_id: int) -> None:
        super().__init__(
            f"mutation {mutation_id} of this device was a different mutation; ids are never reused on a device"
        )


class BadCursor(SyncError):
    title = "Malformed cursor"

    def __init__(self) -> None:
        super().__init__("the cursor is not one this server returned; pull with cursor null to start again")
