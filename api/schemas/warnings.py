"""Early warnings as the office reads them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from api.schemas.base import Read
from domain.enums import WarningKind


class WarningOut(Read, frozen=True):
    id: uuid.UUID
    kind: WarningKind
    # What it is about, e.g. `late_arrival:<job id>`: one open warning per subject.
    subject: str
    territory_id: uuid.UUID | None
    job_id: uuid.UUID | None
    technician_id: uuid.UUID | None
    complaint_id: uuid.UUID | None
    sync_exception_id: uuid.UUID | None
    message: str
    # The figures behind the message (a late arrival: `predicted_arrival`, `window_end`, `minutes_late`...).
    details: dict[str, Any]
    # The deadline at risk, when there is one.
    due_at: dt.datetime | None
    raised_at: dt.datetime
    acknowledged_at: dt.datetime | None
    acknowledged_by: uuid.UUID | None
    cleared_at: dt.datetime | None
    # Why it cleared: `arrived`, `on_time`, `confirmed`, `responded`, `resolved`, `cancelled`, `day_over`...
    cleared_reason: str | None
