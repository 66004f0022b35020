"""Every mutation a device may push, registered by its versioned name (see docs/sync.md for the table)."""

from sync.mutations import evidence, status, time_and_signature
from sync.mutations.base import REGISTRY, Context, Mutation, Outcome, Rejected

__all__ = [
    "REGISTRY",
    "Context",
    "Mutation",
    "Outcome",
    "Rejected",
    "evidence",
    "status",
    "time_and_signature",
]
