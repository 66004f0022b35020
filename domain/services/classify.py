"""Applying a service type to a job: what the type says the work needs."""

from __future__ import annotations

from domain import models as m


def apply_service_type(job: m.Job, service_type: m.ServiceType, *, keep_priority: bool = False) -> None:
    job.service_type_id = service_type.id
    job.duration_s = service_type.default_duration_s
    if not keep_priority:
        job.priority = service_type.default_priority
    job.checklist = list(service_type.checklist)
    job.parts = list(service_type.parts)
    job.tools = list(service_type.tools)
    if job.origin_job_id is None:
        job.value_cents = service_type.price_cents
    job.suggested_service_type_codes = []
    job.required_skills = [
        m.JobRequiredSkill(skill_id=s.skill_id, min_level=s.min_level) for s in service_type.skills
    ]
