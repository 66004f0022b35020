"""Reference data: SLA terms and the keyword index for triage."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain import models as m
from domain.classification import DEFAULT_SLA, SlaTerms, Suggestion, suggest_service_types
from domain.enums import Priority


async def sla_terms(session: AsyncSession, priority: Priority) -> SlaTerms:
    policy = await session.scalar(sa.select(m.SlaPolicy).where(m.SlaPolicy.priority == priority))
    if policy is None:
        return DEFAULT_SLA[priority]
    return SlaTerms(policy.respond_within_s, policy.resolve_within_s)


async def suggest(session: AsyncSession, description: str) -> list[tuple[m.ServiceType, Suggestion]]:
    types = {t.code: t for t in await session.scalars(sa.select(m.ServiceType))}
    ranked = suggest_service_types(description, {code: t.keywords for code, t in types.items()})
    return [(types[s.code], s) for s in ranked]
