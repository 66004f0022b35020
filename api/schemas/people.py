"""Customers, sites, technicians, shifts and staff accounts on the wire."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

import msgspec

from api.schemas.base import (
    Address,
    AwareDatetime,
    Email,
    Latitude,
    Level,
    Longitude,
    Name,
    Phone,
    Read,
    Seconds,
    ShortText,
    Write,
)
from domain.enums import Role


class CustomerIn(Write, frozen=True):
    name: Name
    phone: Phone | None = None
    email: Email | None = None
    consent_to_messages: bool = False


class CustomerPatch(Write, frozen=True):
    name: Name | None = None
    phone: Phone | None = None
    email: Email | None = None
    consent_to_messages: bool | None = None


class CustomerOut(Read, frozen=True):
    id: uuid.UUID
    name: str
    phone: str | None
    email: str | None
    consent_to_messages: bool
    created_at: dt.datetime


class SiteIn(Write, frozen=True):
    address: Address
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    access_notes: ShortText | None = None


class SitePatch(Write, frozen=True):
    access_notes: ShortText | None = None


class SiteOut(Read, frozen=True):
    id: uuid.UUID
    customer_id: uuid.UUID
    territory_id: uuid.UUID
    address: str
    latitude: float
    longitude: float
    access_notes: str | None


class HeldSkill(Write, frozen=True):
    skill_id: uuid.UUID
    level: Level


class HeldSkillOut(Read, frozen=True):
    skill_id: uuid.UUID
    level: int


class TechnicianIn(Write, frozen=True):
    name: Name
    territory_id: uuid.UUID
    home_latitude: Latitude
    home_longitude: Longitude
    home_address: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    email: Email | None = None
    phone: Phone | None = None
    skills: Annotated[list[HeldSkill], msgspec.Meta(max_length=50)] = []


class TechnicianPatch(Write, frozen=True):
    name: Name | None = None
    territory_id: uuid.UUID | None = None
    home_latitude: Latitude | None = None
    home_longitude: Longitude | None = None
    home_address: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    phone: Phone | None = None
    active: bool | None = None
    skills: Annotated[list[HeldSkill], msgspec.Meta(max_length=50)] | None = None


class TechnicianOut(Read, frozen=True):
    id: uuid.UUID
    name: str
    email: str | None
    phone: str | None
    territory_id: uuid.UUID
    home_address: str | None
    home_latitude: float
    home_longitude: float
    active: bool
    skills: list[HeldSkillOut]


class BreakIn(Write, frozen=True):
    earliest_start: AwareDatetime
    latest_end: AwareDatetime
    duration_s: Seconds


class BreakOut(Read, frozen=True):
    earliest_start: dt.datetime
    latest_end: dt.datetime
    duration_s: int


class ShiftIn(Write, frozen=True):
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    start_latitude: Latitude | None = None
    start_longitude: Longitude | None = None
    end_latitude: Latitude | None = None
    end_longitude: Longitude | None = None
    breaks: Annotated[list[BreakIn], msgspec.Meta(max_length=10)] = []


class ShiftOut(Read, frozen=True):
    id: uuid.UUID
    technician_id: uuid.UUID
    starts_at: dt.datetime
    ends_at: dt.datetime
    start_latitude: float | None
    start_longitude: float | None
    end_latitude: float | None
    end_longitude: float | None
    breaks: list[BreakOut]


class UserIn(Write, frozen=True):
    email: Email
    full_name: Name
    password: Annotated[str, msgspec.Meta(min_length=10, max_length=200)]
    role: Role
    technician_id: uuid.UUID | None = None
    territory_ids: Annotated[list[uuid.UUID], msgspec.Meta(max_length=50)] = []


class UserOut(Read, frozen=True):
    id: uuid.UUID
    email: str
    full_name: str
    role: Role
    active: bool
    technician_id: uuid.UUID | None
    territory_ids: list[uuid.UUID]


class LoginIn(Write, frozen=True):
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=320)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class TokenOut(Read, frozen=True):
    access_token: str
    token_type: str
    expires_in: int
