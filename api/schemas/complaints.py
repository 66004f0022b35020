"""Complaints as the office files, reads and handles them; customer links as the office sends them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

import msgspec

from api.schemas.base import Read, Write
from domain.enums import Channel, ComplaintActionKind, ComplaintCategory, ComplaintStatus, LinkPurpose

Description = Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]
Note = Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]


class ComplaintIn(Write, frozen=True):
    """A complaint taken by the office (phone, e-mail, chat...). Name the job, or the customer when it is about
    no job in particular."""

    category: ComplaintCategory
    channel: Channel
    description: Description
    job_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None


class ComplaintActionIn(Write, frozen=True):
    kind: ComplaintActionKind
    note: Note | None = None
    # Only with `owner_changed`: the dispatcher (of the complaint's territory) or admin who takes it over.
    owner_user_id: uuid.UUID | None = None


class ComplaintResolutionIn(Write, frozen=True):
    resolution: Description


class ComplaintActionOut(Read, frozen=True):
    id: uuid.UUID
    kind: ComplaintActionKind
    note: str | None
    actor_user_id: uuid.UUID | None
    by_customer: bool
    occurred_at: dt.datetime


class ComplaintOut(Read, frozen=True):
    id: uuid.UUID
    customer_id: uuid.UUID
    job_id: uuid.UUID | None
    territory_id: uuid.UUID
    category: ComplaintCategory
    channel: Channel
    description: str
    status: ComplaintStatus
    owner_user_id: uuid.UUID | None
    received_at: dt.datetime
    respond_by: dt.datetime
    resolve_by: dt.datetime
    responded_at: dt.datetime | None
    resolved_at: dt.datetime | None
    resolution: str | None
    customer_satisfied: bool | None
    reopen_count: int
    rework_job_id: uuid.UUID | None
    overdue: bool
    version: int


class ComplaintDetailOut(ComplaintOut, frozen=True):
    actions: list[ComplaintActionOut]


class CustomerLinkIn(Write, frozen=True):
    purpose: LinkPurpose
    # For `complaint`: which of the job's complaints the link follows.
    complaint_id: uuid.UUID | None = None


class QueuedMessageOut(Read, frozen=True):
    id: uuid.UUID
    channel: str
    state: str
    last_error: str | None


class CustomerLinkOut(Read, frozen=True):
    link_id: uuid.UUID
    purpose: LinkPurpose
    job_id: uuid.UUID
    expires_at: dt.datetime
    single_use: bool
    # The messages carrying the link, one per channel the customer can be reached on (suppressed if opted out).
    messages: list[QueuedMessageOut]


class ComplaintPolicyIn(Write, frozen=True):
    respond_within_s: Annotated[int, msgspec.Meta(ge=60, le=366 * 86400)]
    resolve_within_s: Annotated[int, msgspec.Meta(ge=60, le=366 * 86400)]


class ComplaintPolicyOut(Read, frozen=True):
    category: ComplaintCategory
    respond_within_s: int
    resolve_within_s: int
    updated_at: dt.datetime | None = None
