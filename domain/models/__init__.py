"""Every table of fieldwork; importing this module registers them all on one metadata."""

from domain.models.audit import AuditEntry, AuditHead
from domain.models.base import Base, metadata
from domain.models.catalogue import ServiceType, ServiceTypeSkill, SlaPolicy
from domain.models.completion import JobCompletion, Seal
from domain.models.customer_links import CustomerLink
from domain.models.customers import Customer, Site
from domain.models.feedback import Complaint, ComplaintAction, ComplaintPolicy, Rating
from domain.models.fieldwork import (
    Attachment,
    JobFieldValue,
    JobNote,
    JobPartLine,
    JobPhoto,
    JobSignature,
    TimeEntry,
)
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
from domain.models.kpis import KpiDay, KpiResponseTime, KpiSettings, KpiStale, KpiStore, KpiTechnicianDay
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
from domain.models.outbox import OutboxMessage
from domain.models.plans import Plan
from domain.models.sync import SyncDevice, SyncException, SyncGrant, SyncMutation, SyncRow, SyncSpace
from domain.models.warnings import EarlyWarning

__all__ = [
    "Appointment",
    "Assignment",
    "Attachment",
    "AuditEntry",
    "AuditHead",
    "Base",
    "Complaint",
    "ComplaintAction",
    "ComplaintPolicy",
    "Customer",
    "CustomerLink",
    "EarlyWarning",
    "IdempotencyRecord",
    "Job",
    "JobCompletion",
    "JobFieldValue",
    "JobNote",
    "JobPartLine",
    "JobPhoto",
    "JobRequiredSkill",
    "JobSignature",
    "JobStatusEvent",
    "JobTimeWindow",
    "KpiDay",
    "KpiResponseTime",
    "KpiSettings",
    "KpiStale",
    "KpiStore",
    "KpiTechnicianDay",
    "OutboxMessage",
    "Plan",
    "Rating",
    "Seal",
    "ServiceRequest",
    "ServiceType",
    "ServiceTypeSkill",
    "Shift",
    "ShiftBreak",
    "Site",
    "Skill",
    "SlaPolicy",
    "SyncDevice",
    "SyncException",
    "SyncGrant",
    "SyncMutation",
    "SyncRow",
    "SyncSpace",
    "Technician",
    "TechnicianSkill",
    "Territory",
    "TimeEntry",
    "User",
    "dispatcher_territories",
    "metadata",
]
