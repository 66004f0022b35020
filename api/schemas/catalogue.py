"""Reference data on the wire: skills, territories, service types, SLA policies."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

import msgspec

from api.schemas.base import Cents, Code, Items, Latitude, Level, Longitude, Name, Read, Seconds, Write
from domain.enums import Priority


class SkillIn(Write, frozen=True):
    code: Code
    name: Name


class SkillPatch(Write, frozen=True):
    name: Name | None = None


class SkillOut(Read, frozen=True):
    id: uuid.UUID
    code: str
    name: str


class TerritoryIn(Write, frozen=True):
    code: Code
    name: Name
    center_latitude: Latitude
    center_longitude: Longitude
    timezone: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "UTC"


class TerritoryPatch(Write, frozen=True):
    name: Name | None = None
    center_latitude: Latitude | None = None
    center_longitude: Longitude | None = None
    timezone: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None


class TerritoryOut(Read, frozen=True):
    id: uuid.UUID
    code: str
    name: str
    timezone: str
    center_latitude: float
    center_longitude: float


class SkillRequirement(Write, frozen=True):
    skill_id: uuid.UUID
    min_level: Level = 1


class SkillRequirementOut(Read, frozen=True):
    skill_id: uuid.UUID
    min_level: int


class ServiceTypeIn(Write, frozen=True):
    code: Code
    name: Name
    default_duration_s: Seconds
    default_priority: Priority = Priority.NORMAL
    skills: Annotated[list[SkillRequirement], msgspec.Meta(max_length=20)] = []
    checklist: Items = []
    parts: Items = []
    tools: Items = []
    keywords: Items = []
    requires_signature: bool = True
    # What the service is normally charged, in cents: jobs of this type take it as their value.
    price_cents: Cents | None = None


class ServiceTypePatch(Write, frozen=True):
    name: Name | None = None
    default_duration_s: Seconds | None = None
    default_priority: Priority | None = None
    skills: Annotated[list[SkillRequirement], msgspec.Meta(max_length=20)] | None = None
    checklist: Items | None = None
    parts: Items | None = None
    tools: Items | None = None
    keywords: Items | None = None
    requires_signature: bool | None = None
    price_cents: Cents | None = None


class ServiceTypeOut(Read, frozen=True):
    id: uuid.UUID
    code: str
    name: str
    default_duration_s: int
    default_priority: Priority
    skills: list[SkillRequirementOut]
    checklist: list[str]
    parts: list[str]
    tools: list[str]
    keywords: list[str]
    requires_signature: bool
    price_cents: int | None = None


class SlaPolicyIn(Write, frozen=True):
    respond_within_s: Seconds
    resolve_within_s: Seconds


class SlaPolicyOut(Read, frozen=True):
    priority: Priority
    respond_within_s: int
    resolve_within_s: int
    updated_at: dt.datetime | None = None
