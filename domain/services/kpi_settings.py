"""The organisation's KPI settings: targets, the first-fix window, the rates that price a visit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain import models as m
from domain.errors import InvalidInput
from domain.kpis.definitions import BY_KEY, Unit


def _defaults() -> m.KpiSettings:
    return m.KpiSettings(
        first_fix_window_days=30,
        labour_rate_cents_per_hour=6000,
        travel_rate_cents_per_km=50,
        currency="EUR",
        targets={},
    )


async def _row(session: AsyncSession) -> m.KpiSettings | None:
    return await session.scalar(sa.select(m.KpiSettings).order_by(m.KpiSettings.created_at).limit(1))


async def current(session: AsyncSession) -> m.KpiSettings:
    """The settings in force: the row the migration writes, or the defaults (not stored: reading never writes)
    when a database emptied by hand has none."""
    return await _row(session) or _defaults()


def _checked_targets(targets: Mapping[str, float | None]) -> dict[str, float | None]:
    for key, value in targets.items():
        definition = BY_KEY.get(key)
        if definition is None:
            raise InvalidInput(f"targets.{key}", f"there is no KPI {key!r}")
        if value is None:
            continue
        if definition.unit is Unit.SHARE and not 0 <= value <= 1:
            raise InvalidInput(f"targets.{key}", "a share is between 0 and 1 (0.95 for 95 %)")
        if definition.unit is Unit.SCORE and not 1 <= value <= 5:
            raise InvalidInput(f"targets.{key}", "a rating target is between 1 and 5")
        if value < 0:
            raise InvalidInput(f"targets.{key}", "a target cannot be negative")
    return dict(targets)


async def update(session: AsyncSession, changes: Mapping[str, Any]) -> m.KpiSettings:
    """Apply the given fields; in `targets`, a KPI set to null goes back to its default."""
    if not changes:
        return await current(session)
    settings = await _row(session)
    if settings is None:
        settings = _defaults()
        session.add(settings)
    for name, value in changes.items():
        if name == "targets":
            merged = {**settings.targets, **_checked_targets(value)}
            settings.targets = {k: float(v) for k, v in merged.items() if v is not None}
        else:
            setattr(settings, name, value)
    await session.flush()
    return settings
