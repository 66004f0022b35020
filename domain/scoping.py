"""The statements that decide what a principal may see. Every read of a scoped object starts from one of these."""

from __future__ import annotations

import sqlalchemy as sa

from domain import models as m
from domain.enums import Role
from domain.principal import Principal


def visible_jobs(principal: Principal) -> sa.Select[m.Job]:
    stmt = sa.select(m.Job)
    if principal.role is Role.ADMIN:
        return stmt
    if principal.role is Role.DISPATCHER:
        return stmt.where(m.Job.territory_id.in_(principal.territory_ids))
    assigned = sa.select(m.Assignment.job_id).where(m.Assignment.technician_id == principal.technician_id)
    return stmt.where(m.Job.id.in_(assigned))


def visible_technicians(principal: Principal) -> sa.Select[m.Technician]:
    stmt = sa.select(m.Technician)
    if principal.role is Role.ADMIN:
        return stmt
    if principal.role is Role.DISPATCHER:
        return stmt.where(m.Technician.territory_id.in_(principal.territory_ids))
    return stmt.where(m.Technician.id == principal.technician_id)
