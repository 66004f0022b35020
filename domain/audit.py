"""The audit chain: every insert, update and delete flushed by a session is appended, hash-linked, to `audit_log`.

Each entry's hash covers its content and the previous entry's hash, so editing or deleting a row breaks every
hash after it. Writers lock the single `audit_head` row, which keeps the chain linear under concurrency.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, UOWTransaction

from domain.models import AuditEntry, AuditHead
from domain.principal import SYSTEM_ACTOR

GENESIS_HASH = "0" * 64
HEAD_ID = 1
_HEAD_LOCKED = "fieldwork.audit_head_locked"
# Never copied into the log: secrets stay out of a table everyone with read access can scan.
REDACTED_COLUMNS = frozenset({"password_hash"})


def _json_safe(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    return value


def entry_hash(
    *,
    seq: int,
    prev_hash: str,
    occurred_at: dt.datetime,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    changes: dict[str, Any],
) -> str:
    canonical = json.dumps(
        {
            "seq": seq,
            "prev": prev_hash,
            "at": occurred_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
            "actor": actor,
            "action": action,
            "entity": entity,
            "id": entity_id,
            "changes": changes,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _column_values(obj: Any) -> dict[str, Any]:
    mapper = sa.inspect(obj).mapper
    values: dict[str, Any] = {}
    for attr in mapper.column_attrs:
        if attr.key in REDACTED_COLUMNS:
            values[attr.key] = "[redacted]"
        else:
            values[attr.key] = _json_safe(getattr(obj, attr.key))
    return values


def _changed_values(obj: Any) -> dict[str, Any]:
    state = sa.inspect(obj)
    changes: dict[str, Any] = {}
    for attr in state.mapper.column_attrs:
        history = state.attrs[attr.key].history
        if not history.has_changes():
            continue
        if attr.key in REDACTED_COLUMNS:
            changes[attr.key] = "[redacted]"
            continue
        old = history.deleted[0] if history.deleted else None
        new = history.added[0] if history.added else None
        changes[attr.key] = [_json_safe(old), _json_safe(new)]
    return changes


def _identity(obj: Any) -> str:
    key = sa.inspect(obj).mapper.primary_key_from_instance(obj)
    return ",".join(str(k) for k in key)


def _ensure_id(obj: Any) -> None:
    # Ids are generated on insert; the log needs them now.
    if hasattr(obj, "id") and obj.id is None:
        obj.id = uuid.uuid4()


def _audited(obj: Any) -> bool:
    return not isinstance(obj, (AuditEntry, AuditHead)) and getattr(obj, "__audited__", True)


def record_changes(session: Session, _flush: UOWTransaction, _instances: Iterable[Any] | None) -> None:
    pending: list[tuple[str, Any, dict[str, Any]]] = []
    for obj in session.new:
        if not _audited(obj):
            continue
        _ensure_id(obj)
        pending.append(("insert", obj, _column_values(obj)))
    for obj in session.dirty:
        if not _audited(obj) or not session.is_modified(obj, include_collections=False):
            continue
        changes = _changed_values(obj)
        if changes:
            pending.append(("update", obj, changes))
    for obj in session.deleted:
        if isinstance(obj, (AuditEntry, AuditHead)):
            raise PermissionError("the audit log is append-only")
        if not _audited(obj):
            continue
        pending.append(("delete", obj, _column_values(obj)))
    if not pending:
        return

    head = lock_head(session)
    actor = str(session.info.get("actor", SYSTEM_ACTOR))
    now = dt.datetime.now(dt.UTC)
    for action, obj, changes in pending:
        seq = head.seq + 1
        entity = sa.inspect(obj).mapper.local_table.name
        entity_id = _identity(obj)
        digest = entry_hash(
            seq=seq,
            prev_hash=head.hash,
            occurred_at=now,
            actor=actor,
            action=action,
            entity=entity,
            entity_id=entity_id,
            changes=changes,
        )
        session.add(
            AuditEntry(
                seq=seq,
                occurred_at=now,
                actor=actor,
                action=action,
                entity=entity,
                entity_id=entity_id,
                changes=changes,
                prev_hash=head.hash,
                hash=digest,
            )
        )
        head.seq, head.hash = seq, digest


def lock_head(session: Session) -> AuditHead:
    """Lock and read the chain's head once per transaction, then keep it (the session holds objects weakly).

    A writer that will lock other rows before its first flush takes the head first, so that every writer locks
    the head before the rows it changes and two writers never wait for each other in a circle."""
    head = session.info.get(_HEAD_LOCKED)
    if isinstance(head, AuditHead):
        return head
    found = session.get(AuditHead, HEAD_ID, with_for_update=True)
    if found is None:
        found = AuditHead(id=HEAD_ID, seq=0, hash=GENESIS_HASH)
        session.add(found)
    session.info[_HEAD_LOCKED] = found
    return found


def release_head(session: Session, *_: Any) -> None:
    """After any rollback (a savepoint's releases the locks taken in it) or the end of the transaction, the next
    flush must lock the head again."""
    session.info.pop(_HEAD_LOCKED, None)


@dataclass(frozen=True, slots=True)
class ChainReport:
    entries: int
    broken_at: int | None
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify_chain(rows: Iterable[AuditEntry], head: AuditHead | None) -> ChainReport:
    """Recompute every link; report the first entry that does not follow from its predecessor."""
    prev_hash, expected_seq, count = GENESIS_HASH, 1, 0
    for row in rows:
        count += 1
        if row.seq != expected_seq:
            return ChainReport(count, expected_seq, f"entry {expected_seq} is missing (next is {row.seq})")
        if row.prev_hash != prev_hash:
            return ChainReport(count, row.seq, f"entry {row.seq} does not link to the entry before it")
        digest = entry_hash(
            seq=row.seq,
            prev_hash=row.prev_hash,
            occurred_at=row.occurred_at,
            actor=row.actor,
            action=row.action,
            entity=row.entity,
            entity_id=row.entity_id,
            changes=row.changes,
        )
        if digest != row.hash:
            return ChainReport(
                count, row.seq, f"entry {row.seq} was altered: its content no longer matches its hash"
            )
        prev_hash, expected_seq = row.hash, row.seq + 1
    last_seq = expected_seq - 1
    if head is not None and (head.seq != last_seq or head.hash != prev_hash):
        return ChainReport(
            count, last_seq + 1, f"entries after {last_seq} were removed (head is at {head.seq})"
        )
    return ChainReport(count, None, None)
