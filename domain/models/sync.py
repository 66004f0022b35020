"""The bookkeeping of offline sync: the space's version, the change feed, scope grants, devices and their mutations,
and the exceptions a dispatcher should look at."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from sqlalchemy.orm import Mapped, mapped_column, relationship

from domain.models.audit import AuditBase
from domain.models.base import Base

if TYPE_CHECKING:
    from domain.models.jobs import Job
    from domain.models.organisation import Technician

BigInt = sa.BigInteger().with_variant(sa.Integer, "sqlite")


class SyncSpace(AuditBase):
    """One row per space (one space per organisation for now): the version of its last committed change.

    Every transaction that changes synced rows increments it as its last step and holds the row lock until it
    commits, so versions are handed out in commit order.
    """

    __tablename__ = "sync_spaces"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInt, default=0)
    # Tombstones and revoked grants at or below this version were pruned: older cursors must start again.
    pruned_below: Mapped[int] = mapped_column(BigInt, default=0)


class SyncRow(AuditBase):
    """The change feed: for every synced row, the version of the transaction that last changed it.

    A deleted row keeps its entry as a tombstone (`deleted`) until the horizon prunes it. `job_id` anchors the row
    to the job whose scope it belongs to; reference data (skills, service types) has none and goes to everyone.
    """

    __tablename__ = "sync_rows"
    __table_args__ = (
        sa.Index("ix_sync_rows_space_version", "space_id", "version"),
        sa.Index("ix_sync_rows_job_id", "job_id"),
    )

    table_name: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    row_id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True)
    space_id: Mapped[int] = mapped_column(sa.Integer)
    version: Mapped[int] = mapped_column(BigInt)
    job_id: Mapped[uuid.UUID | None] = mapped_column(GUID)
    deleted: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    changed_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))


class SyncGrant(AuditBase):
    """A job in a technician's scope (`active`) or taken out of it, at the version that did it."""

    __tablename__ = "sync_grants"
    __table_args__ = (sa.Index("ix_sync_grants_technician_version", "technician_id", "version"),)

    technician_id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True)
    active: Mapped[bool] = mapped_column(sa.Boolean)
    version: Mapped[int] = mapped_column(BigInt)
    changed_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))


class SyncDevice(Base):
    """A technician's installation of the app; `last_mutation_id` moves in the transaction of the effects."""

    __tablename__ = "sync_devices"
    # Transport bookkeeping, written on every push: the mutations it records are their own log.
    __audited__ = False

    device_id: Mapped[uuid.UUID] = mapped_column(GUID, unique=True)
    technician_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("technicians.id", ondelete="CASCADE"), index=True
    )
    app_version: Mapped[str] = mapped_column(sa.String(40))
    schema_version: Mapped[int] = mapped_column(sa.Integer)
    last_mutation_id: Mapped[int] = mapped_column(BigInt, default=0)
    # Server minus device clock, as last reported: how far the device's timestamps are off.
    clock_offset_s: Mapped[float] = mapped_column(sa.Float, default=0.0)
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True))


class SyncMutation(AuditBase):
    """Every mutation a device pushed and what came of it, so that a repeated push gets the same answer."""

    __tablename__ = "sync_mutations"
    # The push's own log, written for every mutation: keeping it out of the audit chain keeps pushes cheap.
    __audited__ = False

    device_id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True)
    mutation_id: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=False)
    mutation_uuid: Mapped[uuid.UUID] = mapped_column(GUID)
    name: Mapped[str] = mapped_column(sa.String(80))
    result: Mapped[str] = mapped_column(sa.String(30))
    code: Mapped[str | None] = mapped_column(sa.String(40))
    detail: Mapped[str | None] = mapped_column(sa.Text)
    job_id: Mapped[uuid.UUID | None] = mapped_column(GUID)
    client_ts: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    received_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))


class SyncException(Base):
    """Something from the field a person should look at: a status change after reassignment, a second
    signature, a completion of a cancelled job, a device clock far off. Repeats add to `occurrences`."""

    __tablename__ = "sync_exceptions"

    code: Mapped[str] = mapped_column(sa.String(40))
    detail: Mapped[str] = mapped_column(sa.Text)
    job_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    technician_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("technicians.id"), index=True)
    device_id: Mapped[uuid.UUID] = mapped_column(GUID)
    mutation_id: Mapped[int] = mapped_column(BigInt)
    mutation_name: Mapped[str] = mapped_column(sa.String(80))
    args: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    occurrences: Mapped[int] = mapped_column(sa.Integer, default=1)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), index=True)
    resolved_by: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id"))
    resolution: Mapped[str | None] = mapped_column(sa.Text)

    # Loaded with the list, so that it names the people and the work, not just their ids.
    technician: Mapped[Technician] = relationship(lazy="selectin")
    job: Mapped[Job | None] = relationship(lazy="selectin")
