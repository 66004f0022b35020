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


class CompletionOutcome(StrEnum):
    FIXED = "fixed"
    FOLLOW_UP = "follow_up"


class SignOff(StrEnum):
    """How the customer signed off a completed job."""

    ON_SITE = "on_site"
    # The service type does not ask for a signature.
    NOT_REQUIRED = "not_required"
    # The customer was not there: a single-use sign-off link was sent.
    REMOTE_PENDING = "remote_pending"
    REMOTE = "remote"
    # The customer, through the link, said the work was not done; the job was reopened.
    REFUSED = "refused"


class SealKind(StrEnum):
    SIGNATURE = "signature"
    COMPLETION = "completion"


class LinkPurpose(StrEnum):
    """What a customer link lets its holder do; one link, one purpose."""

    CONFIRM = "confirm"
    TRACK = "track"
    SIGN_OFF = "sign_off"
    SURVEY = "survey"
    COMPLAINT = "complaint"
    REQUEST = "request"


class ComplaintCategory(StrEnum):
    SERVICE = "service"
    TECHNICAL = "technical"
    BILLING = "billing"


class ComplaintStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    CLOSED = "closed"


class ComplaintActionKind(StrEnum):
    CREATED = "created"
    CONTACTED_CUSTOMER = "contacted_customer"
    REWORK_SCHEDULED = "rework_scheduled"
    REFUND_REQUESTED = "refund_requested"
    NOTE = "note"
    OWNER_CHANGED = "owner_changed"
    RESOLVED = "resolved"
    CUSTOMER_SATISFIED = "customer_satisfied"
    CUSTOMER_UNSATISFIED = "customer_unsatisfied"
    REOPENED = "reopened"


class MessageChannel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"


class MessageState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    # Gave up after the last retry: listed for dispatchers.
    DEAD = "dead"
    # Never sent: the customer opted out of the channel, or has no address on it.
    SUPPRESSED = "suppressed"


class WarningKind(StrEnum):
    """What an early warning is about."""

    # The predicted arrival (from the published plan and the live statuses) misses the window or the SLA.
    LATE_ARRIVAL = "late_arrival"
    # The visit is close and the customer has not confirmed the offered window.
    UNCONFIRMED_APPOINTMENT = "unconfirmed"
    # The technician is behind the published plan: not on the way or not on site when they should be.
    TECHNICIAN_LATE = "technician_late"
    # A complaint's respond-by or resolve-by is close and not met.
    COMPLAINT_DEADLINE = "complaint_deadline"
    # A sync exception nobody has looked at for a while.
    SYNC_EXCEPTION = "sync_exception"
