"""The session class every fieldwork session uses: its flushes write the audit chain, its commits the change feed
and the notes of which KPI days went stale."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from domain import audit, changes
from domain.kpis import stale


class AuditedSession(Session):
    """Every write through it is audited (domain.audit) and versioned for sync (domain.changes)."""


def _transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        audit.release_head(session)


event.listen(AuditedSession, "before_flush", audit.record_changes)
event.listen(AuditedSession, "after_soft_rollback", audit.release_head)
event.listen(AuditedSession, "after_transaction_end", _transaction_end)
event.listen(AuditedSession, "after_flush", changes.collect)
event.listen(AuditedSession, "after_flush", stale.collect)
# Before the change feed's stamp, which must stay the commit's last step (it holds the space's lock).
event.listen(AuditedSession, "before_commit", stale.write)
event.listen(AuditedSession, "before_commit", changes.stamp)
event.listen(AuditedSession, "after_transaction_end", changes.forget)
event.listen(AuditedSession, "after_transaction_end", stale.forget)
