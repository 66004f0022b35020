"""Completing a job online: what the technician sends, and what the completion answers."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

import msgspec

from api.schemas.base import Read, Write
from domain.enums import CompletionOutcome, JobStatus, SignOff

LongText = Annotated[str, msgspec.Meta(max_length=4000)]
Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180)]
Answer = bool | int | float | Annotated[str, msgspec.Meta(max_length=2000)]


class CompleteIn(Write, frozen=True):
    outcome: CompletionOutcome
    # Required when the outcome is `follow_up`: it becomes the follow-up job's description.
    follow_up_reason: LongText | None = None
    summary: LongText | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    # The customer is not there to sign: complete anyway and send them a single-use sign-off link.
    remote_sign_off: bool = False
    # Answers to the job's checklist, by item: given here by a client that did not sync them before.
    # (An item that is not on the job's checklist is a 422 from the service, whatever its length.)
    answers: Annotated[dict[str, Answer], msgspec.Meta(max_length=100)] = {}


class CompletionOut(Read, frozen=True):
    job_id: uuid.UUID
    status: JobStatus
    outcome: CompletionOutcome
    follow_up_reason: str | None
    summary: str | None
    completed_at: dt.datetime
    latitude: float | None
    longitude: float | None
    # When the visit began (arrival on site), on the device's clock when the move came from one.
    arrived_at: dt.datetime | None
    on_site_s: int | None
    travel_s: int | None
    # Road distance estimated from where the technician set out (the last site, or home).
    travel_m: int | None
    sign_off: SignOff
    follow_up_job_id: uuid.UUID | None
    certificate_url: str
