"""The session class every fieldwork session uses: its flushes write the audit chain, its commits the change feed."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import Session

from domain import audit, changes


class AuditedSession(Session):
    """Every write through it is audited (domain.audit) and versioned for sync (domain.changes)."""


event.listen(AuditedSession, "before_flush", audit.record_changes)
event.listen(AuditedSession, "after_flush", changes.collect)
event.listen(AuditedSession, "before_commit", changes.stamp)
event.listen(AuditedSession, "after_transaction_end", changes.forget)
