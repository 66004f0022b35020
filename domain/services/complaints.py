"""Complaints: intake from any channel, deadlines from the policy, an owner, a log of actions, a resolution, the
customer's verdict, and the reopening (with rework) when the customer is still unhappy.

The first action a person takes (anything but a private note) is the response that `respond_by` is about; the
resolution is what `resolve_by` is about. A reopened complaint gets fresh deadlines from the moment it reopened.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain import models as m
from domain.classification import SlaTerms, deadlines
from domain.enums import Channel, ComplaintActionKind, ComplaintCategory, ComplaintStatus, Role
from domain.errors import Conflict, InvalidInput, NotFound, StaleVersion
from domain.paging import page
from domain.principal import Principal
from domain.repositories import ComplaintRepository
from domain.scoping import visible_jobs
from domain.services import customer_notices
from domain.services.catalogue import set_terms
from domain.services.completion import new_related_job

HOUR = 3600
# Used for a category without a row in the configurable policy table.
DEFAULT_POLICY: dict[ComplaintCategory, SlaTerms] = {
    ComplaintCategory.SERVICE: SlaTerms(24 * HOUR, 5 * 24 * HOUR),
    ComplaintCategory.TECHNICAL: SlaTerms(4 * HOUR, 3 * 24 * HOUR),
    ComplaintCategory.BILLING: SlaTerms(2 * 24 * HOUR, 10 * 24 * HOUR),
}
OPEN = (ComplaintStatus.OPEN, ComplaintStatus.IN_PROGRESS, ComplaintStatus.REOPENED)
# Kinds a person records by hand; the others are written by the steps that cause them.
MANUAL_ACTIONS = frozenset(
    {
        ComplaintActionKind.CONTACTED_CUSTOMER,
        ComplaintActionKind.REWORK_SCHEDULED,
        ComplaintActionKind.REFUND_REQUESTED,
        ComplaintActionKind.NOTE,
        ComplaintActionKind.OWNER_CHANGED,
    }
)
# Categories where an unhappy verdict means the work itself must be done again.
REWORK_CATEGORIES = frozenset({ComplaintCategory.SERVICE, ComplaintCategory.TECHNICAL})


async def policy_terms(session: AsyncSession, category: ComplaintCategory) -> SlaTerms:
    row = await session.scalar(sa.select(m.ComplaintPolicy).where(m.ComplaintPolicy.category == category))
    return SlaTerms(row.respond_within_s, row.resolve_within_s) if row else DEFAULT_POLICY[category]


def visible_complaints(principal: Principal) -> sa.Select[m.Complaint]:
    stmt = sa.select(m.Complaint)
    if principal.role is Role.ADMIN:
        return stmt
    if principal.role is Role.DISPATCHER:
        return stmt.where(m.Complaint.territory_id.in_(principal.territory_ids))
    return stmt.where(sa.false())


def _log(
    session: AsyncSession,
    complaint: m.Complaint,
    kind: ComplaintActionKind,
    note: str | None,
    *,
    now: dt.datetime,
    actor: Principal | None = None,
) -> m.ComplaintAction:
    action = m.ComplaintAction(
        complaint_id=complaint.id,
        kind=kind,
        note=note,
        actor_user_id=actor.user_id if actor else None,
        by_customer=actor is None,
        occurred_at=now,
    )
    session.add(action)
    return action


async def _territory_of(session: AsyncSession, customer_id: uuid.UUID, job: m.Job | None) -> uuid.UUID:
    if job is not None:
        return job.territory_id
    territory = await session.scalar(
        sa.select(m.Site.territory_id)
        .where(m.Site.customer_id == customer_id)
        .order_by(m.Site.created_at)
        .limit(1)
    )
    if territory is None:
        raise InvalidInput("customer_id", "the customer has no site, so no territory to handle the complaint")
    return territory


async def create(
    session: AsyncSession,
    *,
    customer_id: uuid.UUID,
    job: m.Job | None,
    category: ComplaintCategory,
    channel: Channel,
    description: str,
    now: dt.datetime,
    actor: Principal | None,
) -> tuple[m.Complaint, m.CustomerLink | None]:
    """A new complaint with its deadlines; the customer is told it was received, with a link to follow it."""
    if not description.strip():
        raise InvalidInput("description", "say what went wrong")
    if job is not None and job.customer_id != customer_id:
        raise InvalidInput("job_id", "the job is not this customer's")
    due = deadlines(now, await policy_terms(session, category))
    complaint = m.Complaint(
        id=uuid.uuid4(),
        customer_id=customer_id,
        job_id=job.id if job else None,
        territory_id=await _territory_of(session, customer_id, job),
        category=category,
        channel=channel,
        description=description.strip(),
        status=ComplaintStatus.OPEN,
        received_at=now,
        respond_by=due.respond_by,
        resolve_by=due.resolve_by,
        reopen_count=0,
    )
    session.add(complaint)
    _log(session, complaint, ComplaintActionKind.CREATED, f"via {channel}", now=now, actor=actor)
    await session.flush()
    link = None
    if job is not None:
        link = await customer_notices.complaint_update(
            session,
            complaint,
            job,
            event="received",
            text=f"We received your complaint and will answer by {complaint.respond_by:%d %b %H:%M} UTC.",
            now=now,
        )
    return complaint, link


async def get(session: AsyncSession, principal: Principal, complaint_id: uuid.UUID) -> m.Complaint:
    found = await session.scalar(visible_complaints(principal).where(m.Complaint.id == complaint_id))
    if found is None:
        raise NotFound("complaint", complaint_id)
    return found


async def actions(session: AsyncSession, complaint: m.Complaint) -> list[m.ComplaintAction]:
    return list(
        await session.scalars(
            sa.select(m.ComplaintAction)
            .where(m.ComplaintAction.complaint_id == complaint.id)
            .order_by(m.ComplaintAction.occurred_at, m.ComplaintAction.created_at)
        )
    )


@dataclass(frozen=True, slots=True)
class ComplaintFilter:
    statuses: tuple[ComplaintStatus, ...] = ()
    category: ComplaintCategory | None = None
    owner_user_id: uuid.UUID | None = None
    job_id: uuid.UUID | None = None
    # Past a deadline it has not met: not responded by `respond_by`, or not resolved by `resolve_by`.
    overdue: bool | None = None


def overdue_clause(now: dt.datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        m.Complaint.status.in_(OPEN),
        sa.or_(
            sa.and_(m.Complaint.responded_at.is_(None), m.Complaint.respond_by < now),
            m.Complaint.resolve_by < now,
        ),
    )


async def list_complaints(
    session: AsyncSession,
    principal: Principal,
    f: ComplaintFilter,
    *,
    now: dt.datetime,
    limit: int,
    offset: int,
) -> tuple[list[m.Complaint], int]:
    stmt = visible_complaints(principal)
    if f.statuses:
        stmt = stmt.where(m.Complaint.status.in_(f.statuses))
    if f.category is not None:
        stmt = stmt.where(m.Complaint.category == f.category)
    if f.owner_user_id is not None:
        stmt = stmt.where(m.Complaint.owner_user_id == f.owner_user_id)
    if f.job_id is not None:
        stmt = stmt.where(m.Complaint.job_id == f.job_id)
    if f.overdue is not None:
        clause = overdue_clause(now)
        stmt = stmt.where(clause if f.overdue else sa.not_(clause))
    stmt = stmt.order_by(m.Complaint.resolve_by, m.Complaint.id)
    return await page(ComplaintRepository(session=session), stmt, limit=limit, offset=offset)


def _check_version(complaint: m.Complaint, expected: int | None) -> None:
    if expected is not None and expected != complaint.version:
        raise StaleVersion(complaint.version)


async def _owner(
    session: AsyncSession, principal: Principal, complaint: m.Complaint, user_id: uuid.UUID
) -> m.User:
    user = await session.get(m.User, user_id)
    if user is None or not user.active or user.role not in (Role.DISPATCHER, Role.ADMIN):
        raise InvalidInput("owner_user_id", f"user {user_id} is not an active dispatcher or admin")
    if user.role is Role.DISPATCHER and complaint.territory_id not in {t.id for t in user.territories}:
        raise InvalidInput("owner_user_id", "the owner must dispatch in the complaint's territory")
    return user


async def act(
    session: AsyncSession,
    principal: Principal,
    complaint_id: uuid.UUID,
    kind: ComplaintActionKind,
    note: str | None,
    *,
    owner_user_id: uuid.UUID | None,
    now: dt.datetime,
    expected_version: int | None = None,
) -> m.Complaint:
    """Record what a person did about the complaint; the first real action is the response."""
    complaint = await get(session, principal, complaint_id)
    _check_version(complaint, expected_version)
    if kind not in MANUAL_ACTIONS:
        raise InvalidInput("kind", f"'{kind}' is recorded by its own step, not by hand")
    if complaint.status is ComplaintStatus.CLOSED:
        raise Conflict("the complaint is closed")
    if kind is ComplaintActionKind.OWNER_CHANGED:
        if owner_user_id is None:
            raise InvalidInput("owner_user_id", "name the new owner")
        owner = await _owner(session, principal, complaint, owner_user_id)
        complaint.owner_user_id = owner.id
        note = note or f"owner: {owner.full_name}"
    elif owner_user_id is not None:
        raise InvalidInput("owner_user_id", "only an owner change names an owner")
    if kind is not ComplaintActionKind.NOTE and kind is not ComplaintActionKind.OWNER_CHANGED:
        if complaint.responded_at is None:
            complaint.responded_at = now
        if complaint.status in (ComplaintStatus.OPEN, ComplaintStatus.REOPENED):
            complaint.status = ComplaintStatus.IN_PROGRESS
    if complaint.owner_user_id is None and principal.role is Role.DISPATCHER:
        complaint.owner_user_id = principal.user_id
    _log(session, complaint, kind, note, now=now, actor=principal)
    complaint.updated_at = now
    await session.flush()
    return complaint


async def resolve(
    session: AsyncSession,
    principal: Principal,
    complaint_id: uuid.UUID,
    resolution: str,
    *,
    now: dt.datetime,
    expected_version: int | None = None,
) -> m.Complaint:
    """Resolve it; the customer is asked, through their link, whether the resolution satisfies them."""
    complaint = await get(session, principal, complaint_id)
    _check_version(complaint, expected_version)
    if complaint.status not in OPEN:
        raise Conflict(f"a {complaint.status} complaint cannot be resolved")
    if not resolution.strip():
        raise InvalidInput("resolution", "say how it was resolved")
    complaint.status = ComplaintStatus.RESOLVED
    complaint.resolution = resolution.strip()
    complaint.resolved_at = now
    complaint.customer_satisfied = None
    if complaint.responded_at is None:
        complaint.responded_at = now
    if complaint.owner_user_id is None:
        complaint.owner_user_id = principal.user_id
    _log(session, complaint, ComplaintActionKind.RESOLVED, complaint.resolution, now=now, actor=principal)
    await session.flush()
    if complaint.job_id is not None:
        job = await session.get_one(m.Job, complaint.job_id)
        await customer_notices.complaint_update(
            session,
            complaint,
            job,
            event="resolved",
            text=f"Your complaint was resolved: {complaint.resolution} Tell us whether this settles it.",
            now=now,
        )
    return complaint


async def _rework_job(session: AsyncSession, complaint: m.Complaint, job: m.Job, now: dt.datetime) -> m.Job:
    """The work done again: a new job like the first, for the same place, classified, its deadlines from now."""
    rework = await new_related_job(
        session, job, kind="rework", description=f"Rework after complaint: {complaint.description}", now=now
    )
    complaint.rework_job_id = rework.id
    return rework


async def verdict(
    session: AsyncSession, complaint: m.Complaint, *, satisfied: bool, comment: str | None, now: dt.datetime
) -> m.Complaint:
    """The customer's word on the resolution. Unhappy reopens the complaint (fresh deadlines) and, for work done
    wrong, schedules the work again as a rework job."""
    if complaint.status is not ComplaintStatus.RESOLVED:
        raise Conflict("there is no resolution to answer yet")
    complaint.customer_satisfied = satisfied
    if satisfied:
        complaint.status = ComplaintStatus.CLOSED
        _log(session, complaint, ComplaintActionKind.CUSTOMER_SATISFIED, comment, now=now)
        await session.flush()
        return complaint
    _log(session, complaint, ComplaintActionKind.CUSTOMER_UNSATISFIED, comment, now=now)
    complaint.status = ComplaintStatus.REOPENED
    complaint.reopen_count += 1
    complaint.resolved_at = None
    complaint.responded_at = None
    due = deadlines(now, await policy_terms(session, complaint.category))
    complaint.respond_by, complaint.resolve_by = due.respond_by, due.resolve_by
    note = "the customer is not satisfied with the resolution"
    job = await session.get(m.Job, complaint.job_id) if complaint.job_id else None
    if job is not None and complaint.category in REWORK_CATEGORIES:
        rework = await _rework_job(session, complaint, job, now)
        note += f"; rework job {rework.id} created"
    _log(session, complaint, ComplaintActionKind.REOPENED, note, now=now)
    await session.flush()
    if job is not None:
        await customer_notices.complaint_update(
            session,
            complaint,
            job,
            event="reopened",
            text="We are sorry it is not settled. Your complaint is open again and we will be in touch.",
            now=now,
        )
    return complaint


async def create_by_office(
    session: AsyncSession,
    principal: Principal,
    *,
    job_id: uuid.UUID | None,
    customer_id: uuid.UUID | None,
    category: ComplaintCategory,
    channel: Channel,
    description: str,
    now: dt.datetime,
) -> m.Complaint:
    """A complaint a dispatcher takes: about one of their jobs, or a customer of their territories."""
    job = None
    if job_id is not None:
        job = await session.scalar(visible_jobs(principal).where(m.Job.id == job_id))
        if job is None:
            raise InvalidInput("job_id", f"job {job_id} does not exist or is not in your territories")
        if customer_id is not None and customer_id != job.customer_id:
            raise InvalidInput("customer_id", "the job is not this customer's")
        customer_id = job.customer_id
    elif customer_id is None:
        raise InvalidInput("job_id", "name the job the complaint is about, or the customer")
    customer = await session.get(m.Customer, customer_id)
    if customer is None:
        raise InvalidInput(
            "customer_id", f"customer {customer_id} does not exist or is not in your territories"
        )
    complaint, _ = await create(
        session,
        customer_id=customer.id,
        job=job,
        category=category,
        channel=channel,
        description=description,
        now=now,
        actor=principal,
    )
    if not principal.sees_territory(complaint.territory_id):
        raise InvalidInput(
            "customer_id", f"customer {customer_id} does not exist or is not in your territories"
        )
    return complaint


async def policies(
    session: AsyncSession,
) -> list[tuple[ComplaintCategory, SlaTerms, m.ComplaintPolicy | None]]:
    """Every category's terms: the stored row, or the default where none is stored."""
    stored = {p.category: p for p in await session.scalars(sa.select(m.ComplaintPolicy))}
    return [
        (
            category,
            SlaTerms(stored[category].respond_within_s, stored[category].resolve_within_s)
            if category in stored
            else DEFAULT_POLICY[category],
            stored.get(category),
        )
        for category in ComplaintCategory
    ]


async def set_policy(
    session: AsyncSession, category: ComplaintCategory, respond_s: int, resolve_s: int
) -> m.ComplaintPolicy:
    """New complaints of the category get these deadlines; those already filed keep theirs."""
    return await set_terms(
        session, m.ComplaintPolicy, m.ComplaintPolicy.category, category, respond_s, resolve_s
    )
