"""The change feed behind offline sync: every committed change to a synced row gets the space's next version.

Each session collects the synced rows its flushes touch. When it commits, it flushes, increments
`sync_spaces.version` as its last step (holding that row's lock until the commit) and records the new version on
every touched row in `sync_rows`. Versions are therefore handed out in commit order, and a reader that has seen
version v has seen every change up to v. Assignments write the technicians' scope the same way, as versioned
grants and revokes in `sync_grants`.

This lives in `domain/` and not in `sync/` because every writer must stamp, whichever package it comes from.
Only the unit of work is seen: a bulk `insert()`/`update()` of a synced table bypasses it, so synced tables are
written through the ORM.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, SessionTransaction, UOWTransaction

from domain import models as m

SPACE_ID = 1
_PENDING = "fieldwork.changes"

# Every synced table, and the attribute that names the job a row belongs to (None: reference data for everyone).
ANCHORS: dict[type[Any], str | None] = {
    m.Job: "id",
    m.Assignment: "job_id",
    m.Appointment: "job_id",
    m.JobTimeWindow: "job_id",
    m.JobStatusEvent: "job_id",
    m.JobNote: "job_id",
    m.JobFieldValue: "job_id",
    m.JobPartLine: "job_id",
    m.TimeEntry: "job_id",
    m.JobSignature: "job_id",
    m.JobPhoto: "job_id",
    m.Skill: None,
    m.ServiceType: None,
}
# Rows a device sees inside its job records (the customer's contact, the site's address): a change to one of
# them is a change to every job that shows it.
SHOWN_IN_JOBS: dict[type[Any], Any] = {m.Customer: m.Job.customer_id, m.Site: m.Job.site_id}


@dataclass
class Pending:
    """What the transaction's flushes touched so far, waiting for its commit to get a version."""

    rows: dict[tuple[str, uuid.UUID], tuple[uuid.UUID | None, bool]] = field(default_factory=dict)
    # (technician, job) -> in scope after this transaction; the last word wins.
    grants: dict[tuple[uuid.UUID, uuid.UUID], bool] = field(default_factory=dict)
    shown: dict[type[Any], set[uuid.UUID]] = field(default_factory=dict)

    def copy(self) -> Pending:
        return Pending(dict(self.rows), dict(self.grants), {k: set(v) for k, v in self.shown.items()})

    def __bool__(self) -> bool:
        return bool(self.rows or self.grants or self.shown)


def pending(session: Session) -> Pending:
    found = session.info.get(_PENDING)
    if found is None:
        found = session.info[_PENDING] = Pending()
    assert isinstance(found, Pending)
    return found


def restore(session: Session, saved: Pending) -> None:
    """Forget what a rolled-back savepoint touched (the push engine saves the state before each mutation)."""
    session.info[_PENDING] = saved


def table_of(model: type[Any]) -> str:
    return str(sa.inspect(model).local_table.name)


def _note(found: Pending, obj: Any, *, deleted: bool) -> None:
    model = type(obj)
    if model in SHOWN_IN_JOBS:
        found.shown.setdefault(model, set()).add(obj.id)
        return
    if model not in ANCHORS:
        return
    anchor = ANCHORS[model]
    job_id = getattr(obj, anchor) if anchor else None
    found.rows[(table_of(model), obj.id)] = (job_id, deleted)
    if model is m.Assignment:
        _note_assignment(found, obj, deleted=deleted)


def _note_assignment(found: Pending, assignment: m.Assignment, *, deleted: bool) -> None:
    history = sa.inspect(assignment).attrs.technician_id.history
    for previous in history.deleted or ():
        if previous is not None and previous != assignment.technician_id:
            found.grants[(previous, assignment.job_id)] = False
    found.grants[(assignment.technician_id, assignment.job_id)] = not deleted


def collect(session: Session, _flush: UOWTransaction) -> None:
    """after_flush: note every synced row the flush inserted, changed or deleted."""
    found = pending(session)
    for obj in session.new:
        _note(found, obj, deleted=False)
    for obj in session.dirty:
        if session.is_modified(obj, include_collections=False):
            _note(found, obj, deleted=False)
    for obj in session.deleted:
        _note(found, obj, deleted=True)


def _insert(session: Session, model: type[Any]) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def next_version(session: Session) -> int:
    """Take the space's next version; the row stays locked until the transaction ends."""
    bump = (
        sa.update(m.SyncSpace)
        .where(m.SyncSpace.id == SPACE_ID)
        .values(version=m.SyncSpace.version + 1)
        .returning(m.SyncSpace.version)
        .execution_options(synchronize_session=False)
    )
    version = session.execute(bump).scalar()
    if version is None:
        session.execute(
            _insert(session, m.SyncSpace)
            .values(id=SPACE_ID, version=0, pruned_below=0)
            .on_conflict_do_nothing(index_elements=["id"])
        )
        version = session.execute(bump).scalar_one()
    return int(version)


def stamp(session: Session) -> None:
    """before_commit: give everything this transaction touched the space's next version, as its last step.

    SQLAlchemy calls before_commit for a savepoint's release too; only the outermost commit stamps, so that a
    transaction takes one version, and the space's lock only at its very end."""
    if session.in_nested_transaction():
        return
    session.flush()
    found = session.info.pop(_PENDING, None)
    if not found:
        return
    for model, ids in found.shown.items():
        column = SHOWN_IN_JOBS[model]
        for job_id in session.scalars(sa.select(m.Job.id).where(column.in_(ids))):
            found.rows.setdefault(("jobs", job_id), (job_id, False))
    if not found.rows and not found.grants:
        return
    version = next_version(session)
    now = dt.datetime.now(dt.UTC)
    # Sorted, so that concurrent writers touching the same rows lock them in one order.
    _upsert(
        session,
        m.SyncRow,
        ("table_name", "row_id"),
        [
            {
                "table_name": table,
                "row_id": row_id,
                "space_id": SPACE_ID,
                "version": version,
                "job_id": job_id,
                "deleted": deleted,
                "changed_at": now,
            }
            for (table, row_id), (job_id, deleted) in sorted(found.rows.items(), key=_row_key)
        ],
    )
    _upsert(
        session,
        m.SyncGrant,
        ("technician_id", "job_id"),
        [
            {"technician_id": t, "job_id": j, "active": active, "version": version, "changed_at": now}
            for (t, j), active in sorted(
                found.grants.items(), key=lambda item: (str(item[0][0]), str(item[0][1]))
            )
        ],
    )


def _upsert(session: Session, model: type[Any], keys: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    """Insert the rows, or overwrite every other column of the ones already there."""
    if not rows:
        return
    stmt = _insert(session, model).values(rows)
    changed = {name: stmt.excluded[name] for name in rows[0] if name not in keys}
    session.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=changed))


def _row_key(item: tuple[tuple[str, uuid.UUID], Any]) -> tuple[str, str]:
    (table, row_id), _ = item
    return table, str(row_id)


def forget(session: Session, transaction: SessionTransaction) -> None:
    """after_transaction_end: a transaction that ended without committing leaves nothing to stamp."""
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
