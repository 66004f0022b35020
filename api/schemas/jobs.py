"""Jobs and intake on the wire."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

import msgspec

from api.schemas.base import (
    AwareDatetime,
    Read,
    ShortText,
    Text,
    TimeWindowIn,
    TimeWindowOut,
    Write,
)
from api.schemas.people import CustomerIn, SiteIn
from domain.enums import Channel, JobStatus, Priority


class ServiceRequestIn(Write, frozen=True):
    """A request as a dispatcher takes it in: who, where, what, how urgent, and when the customer is free."""

    channel: Channel
    description: Text
    customer: CustomerIn
    site: SiteIn | None = None
    site_id: uuid.UUID | None = None
    service_type_id: uuid.UUID | None = None
    priority: Priority | None = None
    windows: Annotated[list[TimeWindowIn], msgspec.Meta(max_length=20)] = []


class RequiredSkillOut(Read, frozen=True):
    skill_id: uuid.UUID
    min_level: int


class AssignmentOut(Read, frozen=True):
    technician_id: uuid.UUID
    planned_start: dt.datetime | None
    sequence: int
    epoch: int


class JobOut(Read, frozen=True):
    id: uuid.UUID
    status: JobStatus
    priority: Priority
    description: str
    customer_id: uuid.UUID
    site_id: uuid.UUID
    territory_id: uuid.UUID
    service_request_id: uuid.UUID | None
    service_type_id: uuid.UUID | None
    duration_s: int
    respond_by: dt.datetime
    resolve_by: dt.datetime
    required_skills: list[RequiredSkillOut]
    time_windows: list[TimeWindowOut]
    checklist: list[str]
    parts: list[str]
    tools: list[str]
    suggested_service_type_codes: list[str]
    assignment: AssignmentOut | None
    # What the job is worth, in cents, when known (its service type's price; 0 for follow-ups and rework).
    value_cents: int | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class SuggestionOut(Read, frozen=True):
    service_type_id: uuid.UUID
    code: str
    name: str
    score: int
    matched_keywords: list[str]


class IntakeOut(Read, frozen=True):
    service_request_id: uuid.UUID
    customer_id: uuid.UUID
    customer_created: bool
    site_id: uuid.UUID
    job: JobOut
    needs_triage: bool
    suggestions: list[SuggestionOut]


class TransitionIn(Write, frozen=True):
    """A status move. The same struct for every role; what each role may move is the state machine's rule."""

    to_status: JobStatus
    reason: ShortText | None = None


class TriageIn(Write, frozen=True):
    service_type_id: uuid.UUID | None = None
    priority: Priority | None = None


class AssignIn(Write, frozen=True):
    technician_id: uuid.UUID
    planned_start: AwareDatetime | None = None


class StatusEventOut(Read, frozen=True):
    from_status: JobStatus | None
    to_status: JobStatus
    actor_user_id: uuid.UUID | None
    reason: str | None
    occurred_at: dt.datetime
