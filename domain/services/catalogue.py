"""Reference data: SLA terms and the keyword index for triage."""

from __future__ import annotations

from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain import models as m
from domain.classification import DEFAULT_SLA, SlaTerms, Suggestion, suggest_service_types
from domain.enums import Priority
from domain.errors import InvalidInput

Policy = TypeVar("Policy", m.SlaPolicy, m.ComplaintPolicy)


async def sla_terms(session: AsyncSession, priority: Priority) -> SlaTerms:
    policy = await session.scalar(sa.select(m.SlaPolicy).where(m.SlaPolicy.priority == priority))
    if policy is None:
        return DEFAULT_SLA[priority]
    return SlaTerms(policy.respond_within_s, policy.resolve_within_s)


async def suggest(session: AsyncSession, description: str) -> list[tuple[m.ServiceType, Suggestion]]:
    types = {t.code: t for t in await session.scalars(sa.select(m.ServiceType))}
    ranked = suggest_service_types(description, {code: t.keywords for code, t in types.items()})
    return [(types[s.code], s) for s in ranked]


async def set_terms(
    session: AsyncSession, model: type[Policy], column: Any, key: Any, respond_s: int, resolve_s: int
) -> Policy:
    """Store the respond and resolve times of a policy row (an SLA's by priority, a complaint's by category)."""
    if resolve_s < respond_s:
        raise InvalidInput("resolve_within_s", "resolving cannot be due before responding")
    policy = await session.scalar(sa.select(model).where(column == key))
    if policy is None:
        policy = model(respond_within_s=respond_s, resolve_within_s=resolve_s)
        setattr(policy, column.key, key)
        session.add(policy)
    else:
        policy.respond_within_s, policy.resolve_within_s = respond_s, resolve_s
    await session.flush()
    return policy
