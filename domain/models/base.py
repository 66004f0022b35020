"""Declarative base and column helpers shared by every table."""

from __future__ import annotations

from enum import StrEnum

import sqlalchemy as sa
from advanced_alchemy.base import UUIDAuditBase, orm_registry

Base = UUIDAuditBase
metadata = orm_registry.metadata


def enum_column_type(enum: type[StrEnum], name: str) -> sa.Enum:
    """A portable enum: a VARCHAR with a named CHECK constraint on both engines."""
    return sa.Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=20,
        values_callable=lambda e: [member.value for member in e],
        validate_strings=True,
    )
