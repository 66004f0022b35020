"""Pull: the changes in a technician's scope after a cursor, commit-ordered, in pages; and the scope's digest.

The whole pull reads one snapshot (the caller opens it), so the page and `last_mutation_id` agree. A cursor is
either `<version>` (a delta: every change with a greater version) or `b.<version>.<table>.<last id>` (a bootstrap
walking the scope table by table, by key, which then continues as a delta from the version it started at).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain import models as m
from domain.changes import SPACE_ID
from sync.devices import check_schema, device_of
from sync.errors import BadCursor
from sync.protocol import Change, DigestOut, PullIn, PullOut, TableDigest
from sync.tables import (
    BY_NAME,
    ORDER,
    TABLES,
    Synced,
    in_scope,
    row_data,
    rows_by_id,
    select_rows,
    with_versions,
)


@dataclass(frozen=True, slots=True)
class Cursor:
    version: int
    # Set while bootstrapping: the table being walked and the last id sent from it.
    table: int | None = None
    after: uuid.UUID | None = None

    def encode(self) -> str:
        if self.table is None:
            return str(self.version)
        return f"b.{self.version}.{self.table}.{self.after.hex if self.after else '-'}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            if text.startswith("b."):
                _, version, table, after = text.split(".")
                index = int(table)
                if not 0 <= index < len(TABLES):
                    raise ValueError(index)
                return cls(int(version), index, None if after == "-" else uuid.UUID(hex=after))
            return cls(int(text))
        except ValueError:
            raise BadCursor from None


@dataclass(frozen=True, slots=True)
class Space:
    version: int
    pruned_below: int


async def space(session: AsyncSession) -> Space:
    row = await session.get(m.SyncSpace, SPACE_ID)
    return Space(0, 0) if row is None else Space(row.version, row.pruned_below)


async def pull(session: AsyncSession, technician_id: uuid.UUID, body: PullIn) -> PullOut:
    check_schema(body.schema_version)
    cursor = Cursor.decode(body.cursor) if body.cursor is not None else None
    device = await device_of(session, technician_id, body.device_id)
    current = await space(session)
    now = dt.datetime.now(dt.UTC)

    def answer(
        changes: list[Change], next_cursor: Cursor | None, has_more: bool, reset: bool = False
    ) -> PullOut:
        return PullOut(
            changes=changes,
            cursor=None if next_cursor is None else next_cursor.encode(),
            has_more=has_more,
            last_mutation_id=device.last_mutation_id,
            server_time=now,
            reset_required=reset,
        )

    if cursor is not None and (cursor.version < current.pruned_below or cursor.version > current.version):
        # Older than the tombstones kept, or from a database this one is not (restored from a backup).
        return answer([], None, has_more=True, reset=True)
    if cursor is None:
        cursor = Cursor(current.version, 0, None)
    if cursor.table is not None:
        changes, following = await _bootstrap_page(session, technician_id, cursor, body.limit)
        return answer(changes, following, has_more=True)
    changes, reached, more = await _delta_page(session, technician_id, cursor.version, body.limit)
    return answer(changes, Cursor(reached if more else current.version), has_more=more)


async def _bootstrap_page(
    session: AsyncSession, technician_id: uuid.UUID, cursor: Cursor, limit: int
) -> tuple[list[Change], Cursor]:
    """Up to `limit` rows of the scope in (table, id) order; the cursor after them (a delta once all are sent)."""
    assert cursor.table is not None
    changes: list[Change] = []
    table, after = cursor.table, cursor.after
    while table < len(TABLES):
        synced = TABLES[table]
        stmt = select_rows(synced).where(in_scope(synced, technician_id))
        if after is not None:
            stmt = stmt.where(synced.table.c.id > after)
        rows = list(await session.execute(stmt.order_by(synced.table.c.id).limit(limit - len(changes))))
        for row in rows:
            row_id, version, data = row_data(synced, row)
            changes.append(Change(table=synced.name, op="upsert", id=row_id, version=version, data=data))
        if len(changes) >= limit:
            return changes, dataclasses.replace(cursor, table=table, after=changes[-1].id)
        table, after = table + 1, None
    return changes, Cursor(cursor.version)


@dataclass(frozen=True, slots=True)
class _Item:
    """One entry of the delta stream: a changed row, or a grant or revoke that stands for a whole job."""

    version: int
    table: str
    row_id: uuid.UUID
    deleted: bool = False
    grant: bool | None = None


def _changed_rows(technician_id: uuid.UUID, after: int) -> sa.Select[int, str, uuid.UUID, bool]:
    granted = sa.select(m.SyncGrant.job_id).where(
        m.SyncGrant.technician_id == technician_id, m.SyncGrant.active.is_(True)
    )
    return sa.select(m.SyncRow.version, m.SyncRow.table_name, m.SyncRow.row_id, m.SyncRow.deleted).where(
        m.SyncRow.space_id == SPACE_ID,
        m.SyncRow.version > after,
        sa.or_(m.SyncRow.job_id.is_(None), m.SyncRow.job_id.in_(granted)),
    )


def _grants(technician_id: uuid.UUID, after: int) -> sa.Select[int, uuid.UUID, bool]:
    return sa.select(m.SyncGrant.version, m.SyncGrant.job_id, m.SyncGrant.active).where(
        m.SyncGrant.technician_id == technician_id, m.SyncGrant.version > after
    )


async def _items(
    session: AsyncSession, technician_id: uuid.UUID, after: int, upto: int | None, limit: int | None
) -> list[_Item]:
    rows_stmt = _changed_rows(technician_id, after).order_by(
        m.SyncRow.version, m.SyncRow.table_name, m.SyncRow.row_id
    )
    grants_stmt = _grants(technician_id, after).order_by(m.SyncGrant.version, m.SyncGrant.job_id)
    if upto is not None:
        rows_stmt = rows_stmt.where(m.SyncRow.version <= upto)
        grants_stmt = grants_stmt.where(m.SyncGrant.version <= upto)
    if limit is not None:
        rows_stmt, grants_stmt = rows_stmt.limit(limit), grants_stmt.limit(limit)
    items = [_Item(v, t, i, bool(d)) for v, t, i, d in await session.execute(rows_stmt)]
    items += [_Item(v, "jobs", j, grant=bool(a)) for v, j, a in await session.execute(grants_stmt)]
    items.sort(key=lambda x: x.version)
    return items


async def _delta_page(
    session: AsyncSession, technician_id: uuid.UUID, after: int, limit: int
) -> tuple[list[Change], int, bool]:
    """The changes of whole versions after `after`, at least `limit` entries when there are that many (a version is
    never split across pages); the last version sent and whether more follow."""
    probe = await _items(session, technician_id, after, None, limit + 1)
    if not probe:
        return [], after, False
    if len(probe) <= limit:
        upto, items = probe[-1].version, probe
    else:
        upto = probe[limit - 1].version
        items = await _items(session, technician_id, after, upto, None)
    more = await _anything_after(session, technician_id, upto)
    return await _expand(session, items), upto, more


async def _anything_after(session: AsyncSession, technician_id: uuid.UUID, version: int) -> bool:
    rows = await session.scalar(sa.select(_changed_rows(technician_id, version).exists()))
    grants = await session.scalar(sa.select(_grants(technician_id, version).exists()))
    return bool(rows or grants)


async def _expand(session: AsyncSession, items: list[_Item]) -> list[Change]:
    """Turn the stream into changes: a grant sends the job with all its children, a revoke removes them."""
    wanted: dict[str, set[uuid.UUID]] = {}
    positioned: list[tuple[int, str, uuid.UUID, str]] = []  # (version, table, id, op)
    # A grant sends the job's rows as they are; a revoke removes every row the device may hold, tombstoned ones
    # included (their deletes are filtered out once the job is out of scope).
    children = await _children(session, [x.row_id for x in items if x.grant], deleted_too=False)
    children |= await _children(session, [x.row_id for x in items if x.grant is False], deleted_too=True)
    for item in items:
        if item.grant is None:
            op = "delete" if item.deleted else "upsert"
            positioned.append((item.version, item.table, item.row_id, op))
            if not item.deleted:
                wanted.setdefault(item.table, set()).add(item.row_id)
            continue
        op = "upsert" if item.grant else "remove"
        for table, row_id in [("jobs", item.row_id), *children.get(item.row_id, [])]:
            positioned.append((item.version, table, row_id, op))
            if item.grant:
                wanted.setdefault(table, set()).add(row_id)
    data = {table: await rows_by_id(session, BY_NAME[table], ids) for table, ids in wanted.items()}
    changes: list[Change] = []
    for version, table, row_id, op in sorted(positioned, key=lambda p: (p[0], ORDER[p[1]], str(p[2]))):
        if op == "upsert":
            found = data[table].get(row_id)
            if found is None:
                continue  # gone since its version (a later tombstone in this stream says so)
            changes.append(Change(table=table, op="upsert", id=row_id, version=found[0], data=found[1]))
        else:
            changes.append(Change(table=table, op=op, id=row_id, version=version))  # type: ignore[arg-type]
    return changes


async def _children(
    session: AsyncSession, job_ids: list[uuid.UUID], *, deleted_too: bool
) -> dict[uuid.UUID, list[tuple[str, uuid.UUID]]]:
    found: dict[uuid.UUID, list[tuple[str, uuid.UUID]]] = {}
    for start in range(0, len(job_ids), 500):
        chunk = job_ids[start : start + 500]
        rows = await session.execute(
            sa.select(m.SyncRow.job_id, m.SyncRow.table_name, m.SyncRow.row_id).where(
                m.SyncRow.job_id.in_(chunk),
                sa.true() if deleted_too else m.SyncRow.deleted.is_(False),
                m.SyncRow.table_name != "jobs",
            )
        )
        for job_id, table, row_id in rows:
            if job_id is not None:
                found.setdefault(job_id, []).append((table, row_id))
    return found


async def digest(session: AsyncSession, technician_id: uuid.UUID, device_id: uuid.UUID) -> DigestOut:
    """Per table, how many rows the device should hold and a hash of their ids and versions."""
    await device_of(session, technician_id, device_id)
    tables: dict[str, TableDigest] = {}
    for synced in TABLES:
        pairs = sorted(await _versions(session, synced, technician_id))
        tables[synced.name] = TableDigest(count=len(pairs), hash=table_hash(pairs))
    return DigestOut(tables=tables, server_time=dt.datetime.now(dt.UTC))


async def _versions(session: AsyncSession, synced: Synced, technician_id: uuid.UUID) -> list[tuple[str, int]]:
    stmt = with_versions(synced, synced.table.c.id).where(in_scope(synced, technician_id))
    return [(str(row_id), int(version)) for row_id, version in await session.execute(stmt)]


def table_hash(pairs: list[tuple[str, int]]) -> str:
    """SHA-256 over `id:version` lines sorted by id; the reference client computes the same over its copy."""
    digest = hashlib.sha256()
    for line in _lines(sorted(pairs)):
        digest.update(line)
    return digest.hexdigest()


def _lines(pairs: list[tuple[str, int]]) -> Iterator[bytes]:
    for row_id, version in pairs:
        yield f"{row_id}:{version}\n".encode()
