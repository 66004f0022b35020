"""What the office reads of the work done in the field, and the exceptions sync raised for it."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec

from api.schemas.base import Read, Write


class NoteOut(Read, frozen=True):
    id: uuid.UUID
    technician_id: uuid.UUID
    body: str
    written_at: dt.datetime | None
    created_at: dt.datetime


class FieldValueOut(Read, frozen=True):
    name: str
    value: Any
    technician_id: uuid.UUID
    updated_at: dt.datetime


class PartLineOut(Read, frozen=True):
    id: uuid.UUID
    part: str
    quantity: float
    technician_id: uuid.UUID


class TimeEntryOut(Read, frozen=True):
    id: uuid.UUID
    technician_id: uuid.UUID
    started_at: dt.datetime
    ended_at: dt.datetime | None
    clock_offset_s: float
    flag: str | None


class PhotoOut(Read, frozen=True):
    id: uuid.UUID
    sha256: str
    caption: str | None
    taken_at: dt.datetime | None


class SignatureOut(Read, frozen=True):
    sha256: str
    signer_name: str
    captured_at: dt.datetime
    latitude: float | None
    longitude: float | None
    # None when the customer signed remotely, through their sign-off link.
    technician_id: uuid.UUID | None


class FieldReportOut(Read, frozen=True):
    job_id: uuid.UUID
    status: str
    notes: list[NoteOut]
    fields: list[FieldValueOut]
    parts: list[PartLineOut]
    time_entries: list[TimeEntryOut]
    photos: list[PhotoOut]
    signature: SignatureOut | None


class SyncExceptionOut(Read, frozen=True):
    id: uuid.UUID
    code: str
    meaning: str
    detail: str
    job_id: uuid.UUID | None
    job_description: str | None
    job_status: str | None
    technician_id: uuid.UUID
    technician_name: str
    device_id: uuid.UUID
    mutation_id: int
    mutation_name: str
    args: dict[str, Any]
    occurrences: int
    created_at: dt.datetime
    resolved_at: dt.datetime | None
    resolution: str | None


class ResolutionIn(Write, frozen=True):
    resolution: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
