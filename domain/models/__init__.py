"""Every table of fieldwork; importing this module registers them all on one metadata."""

from domain.models.audit import AuditEntry, AuditHead
from domain.models.base import Base, metadata
from domain.models.catalogue import ServiceType, ServiceTypeSkill, SlaPolicy
from domain.models.customers import Customer, Site
from domain.models.idempotency import IdempotencyRecord
from domain.models.jobs import (
    Appointment,
    Assignment,
    Job,
    JobRequiredSkill,
    JobStatusEvent,
    JobTimeWindow,
    ServiceRequest,
)
from domain.models.organisation import (
    Shift,
    ShiftBreak,
    Skill,
    Technician,
    TechnicianSkill,
    Territory,
    User,
    dispatcher_territories,
)
from domain.models.plans import OutboxMessage, Plan

__all__ = [
    "Appointment",
    "Assignment",
    "AuditEntry",
    "AuditHead",
    "Base",
    "Customer",
    "IdempotencyRecord",
    "Job",
    "JobRequiredSkill",
    "JobStatusEvent",
    "JobTimeWindow",
    "OutboxMessage",
    "Plan",
    "ServiceRequest",
    "ServiceType",
    "ServiceTypeSkill",
    "Shift",
    "ShiftBreak",
    "Site",
    "Skill",
    "SlaPolicy",
    "Technician",
    "TechnicianSkill",
    "Territory",
    "User",
    "dispatcher_territories",
    "metadata",
]
