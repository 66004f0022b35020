"""The closed vocabularies of the domain, stored as their string values."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    DISPATCHER = "dispatcher"
    TECHNICIAN = "technician"


class Channel(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    WEB = "web"
    CHAT = "chat"
    APP = "app"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class JobStatus(StrEnum):
    NEW = "new"
    SCHEDULED = "scheduled"
    DISPATCHED = "dispatched"
    EN_ROUTE = "en_route"
    ON_SITE = "on_site"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CLOSED = "closed"
    ON_HOLD = "on_hold"
    CANCELLED = "cancelled"
    REOPENED = "reopened"


class AppointmentStatus(StrEnum):
    OFFERED = "offered"
    CONFIRMED = "confirmed"
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"


class PlanState(StrEnum):
    """A plan's life: solved off the request path, reviewed, then published or left behind."""

    QUEUED = "queued"
    RUNNING = "running"
    READY = "ready"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PUBLISHED = "published"
    # A published plan that a later publication for the same territory and day replaced.
    SUPERSEDED = "superseded"


class PlanKind(StrEnum):
    """Why a plan was made: the morning's optimization, or a re-plan when the day goes wrong."""

    OPTIMIZE = "optimize"
    EMERGENCY = "emergency"
    ABSENCE = "absence"
    OVERRUN = "overrun"
