"""A technician's devices: registered once per install, each with its own mutation counter."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain import models as m
from sync.errors import DeviceTaken, UnknownDevice, UnsupportedSchema
from sync.protocol import SCHEMA_VERSIONS, DeviceIn


def check_schema(version: int) -> None:
    if version not in SCHEMA_VERSIONS:
        raise UnsupportedSchema(version, SCHEMA_VERSIONS)


async def register(
    session: AsyncSession, technician_id: uuid.UUID, data: DeviceIn
) -> tuple[m.SyncDevice, bool]:
    """The device, registered to this technician if it was not yet; whether it is new. Idempotent on the id."""
    check_schema(data.schema_version)
    device = await session.scalar(sa.select(m.SyncDevice).where(m.SyncDevice.device_id == data.device_id))
    if device is not None:
        if device.technician_id != technician_id:
            raise DeviceTaken
        device.app_version, device.schema_version = data.app_version, data.schema_version
        return device, False
    device = m.SyncDevice(
        device_id=data.device_id,
        technician_id=technician_id,
        app_version=data.app_version,
        schema_version=data.schema_version,
        last_mutation_id=0,
        last_seen_at=dt.datetime.now(dt.UTC),
    )
    session.add(device)
    await session.flush()
    return device, True


async def device_of(
    session: AsyncSession, technician_id: uuid.UUID, device_id: uuid.UUID, *, lock: bool = False
) -> m.SyncDevice:
    """The caller's own device; anyone else's is unknown to them."""
    stmt = sa.select(m.SyncDevice).where(
        m.SyncDevice.device_id == device_id, m.SyncDevice.technician_id == technician_id
    )
    device = await session.scalar(stmt.with_for_update() if lock else stmt)
    if device is None:
        raise UnknownDevice
    return device
