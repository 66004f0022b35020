"""The tables a device holds, in bootstrap order, and how their rows travel: plain column values, with the jobs
carrying their customer's contact and their site's address (a technician needs them on the way)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain import models as m
from domain.changes import ANCHORS, table_of

HIDDEN_COLUMNS = frozenset({"sa_orm_sentinel", "suggested_service_type_codes", "keywords"})


@dataclass(frozen=True, slots=True)
class Synced:
    name: str
    table: sa.Table
    # The column naming the row's job; None for reference data every device holds.
    anchor: str | None

    @property
    def columns(self) -> list[sa.Column[Any]]:
        return [c for c in self.table.columns if c.name not in HIDDEN_COLUMNS]


def _synced(model: type[Any]) -> Synced:
    table = sa.inspect(model).local_table
    assert isinstance(table, sa.Table)
    return Synced(table_of(model), table, ANCHORS[model])


# Reference data first, then each job before its children, so a device never holds a child without its parent.
TABLES: tuple[Synced, ...] = tuple(_synced(model) for model in ANCHORS)
BY_NAME: dict[str, Synced] = {t.name: t for t in TABLES}
ORDER: dict[str, int] = {t.name: i for i, t in enumerate(TABLES)}

_customer = sa.inspect(m.Customer).local_table
_site = sa.inspect(m.Site).local_table


def with_versions(synced: Synced, *columns: sa.ColumnElement[Any]) -> sa.Select[Any]:
    """Columns of one table with each row's change-feed version as `_version` (0 for rows older than the feed)."""
    feed = sa.inspect(m.SyncRow).local_table
    return sa.select(*columns, sa.func.coalesce(feed.c.version, 0).label("_version")).select_from(
        synced.table.outerjoin(
            feed, sa.and_(feed.c.table_name == synced.name, feed.c.row_id == synced.table.c.id)
        )
    )


def select_rows(synced: Synced) -> sa.Select[Any]:
    """The rows of one table, as a device receives them, with their versions."""
    stmt = with_versions(synced, *synced.columns)
    if synced.name == "jobs":
        stmt = (
            stmt.add_columns(
                _customer.c.name.label("_customer_name"),
                _customer.c.phone.label("_customer_phone"),
                _customer.c.email.label("_customer_email"),
                _site.c.address.label("_site_address"),
                _site.c.latitude.label("_site_latitude"),
                _site.c.longitude.label("_site_longitude"),
                _site.c.access_notes.label("_site_access_notes"),
            )
            .join_from(synced.table, _customer, _customer.c.id == synced.table.c.customer_id)
            .join_from(synced.table, _site, _site.c.id == synced.table.c.site_id)
        )
    return stmt


def row_data(synced: Synced, row: sa.Row[Any]) -> tuple[uuid.UUID, int, dict[str, Any]]:
    values = row._mapping
    data = {c.name: values[c.name] for c in synced.columns}
    if synced.name == "jobs":
        data["customer"] = {
            "name": values["_customer_name"],
            "phone": values["_customer_phone"],
            "email": values["_customer_email"],
        }
        data["site"] = {
            "address": values["_site_address"],
            "latitude": values["_site_latitude"],
            "longitude": values["_site_longitude"],
            "access_notes": values["_site_access_notes"],
        }
    return values["id"], int(values["_version"]), data


def in_scope(synced: Synced, technician_id: uuid.UUID) -> sa.ColumnElement[bool]:
    """The rows of this table a technician's device holds: reference data, and the children of granted jobs."""
    if synced.anchor is None:
        return sa.true()
    granted = sa.select(m.SyncGrant.job_id).where(
        m.SyncGrant.technician_id == technician_id, m.SyncGrant.active.is_(True)
    )
    return synced.table.c[synced.anchor].in_(granted)


async def rows_by_id(
    session: AsyncSession, synced: Synced, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, dict[str, Any]]]:
    wanted: Sequence[uuid.UUID] = list(ids)
    if not wanted:
        return {}
    found: dict[uuid.UUID, tuple[int, dict[str, Any]]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        for row in await session.execute(select_rows(synced).where(synced.table.c.id.in_(chunk))):
            row_id, version, data = row_data(synced, row)
            found[row_id] = (version, data)
    return found
