"""Complaints for the office (intake from any channel, the overdue list, actions, resolution), and the links the
office sends customers."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post, put
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import ADMIN, OFFICE
from api.deps import Limit, Offset, etag, if_match_version
from api.schemas.base import Page
from api.schemas.complaints import (
    ComplaintActionIn,
    ComplaintActionOut,
    ComplaintDetailOut,
    ComplaintIn,
    ComplaintOut,
    ComplaintPolicyIn,
    ComplaintPolicyOut,
    ComplaintResolutionIn,
    CustomerLinkIn,
    CustomerLinkOut,
    QueuedMessageOut,
)
from domain import models as m
from domain.enums import ComplaintCategory, ComplaintStatus
from domain.principal import Principal
from domain.services import complaints, customer_links
from domain.services.complaints import ComplaintFilter


def _is_overdue(c: m.Complaint, now: dt.datetime) -> bool:
    if c.status not in complaints.OPEN:
        return False
    return (c.responded_at is None and c.respond_by < now) or c.resolve_by < now


def complaint_out(c: m.Complaint, now: dt.datetime) -> ComplaintOut:
    return ComplaintOut(
        id=c.id,
        customer_id=c.customer_id,
        job_id=c.job_id,
        territory_id=c.territory_id,
        category=c.category,
        channel=c.channel,
        description=c.description,
        status=c.status,
        owner_user_id=c.owner_user_id,
        received_at=c.received_at,
        respond_by=c.respond_by,
        resolve_by=c.resolve_by,
        responded_at=c.responded_at,
        resolved_at=c.resolved_at,
        resolution=c.resolution,
        customer_satisfied=c.customer_satisfied,
        reopen_count=c.reopen_count,
        rework_job_id=c.rework_job_id,
        overdue=_is_overdue(c, now),
        version=c.version,
    )


async def _detail(
    db_session: AsyncSession, c: m.Complaint, status_code: int = 200
) -> Response[ComplaintDetailOut]:
    now = dt.datetime.now(dt.UTC)
    base = complaint_out(c, now)
    actions = [
        ComplaintActionOut(
            id=a.id,
            kind=a.kind,
            note=a.note,
            actor_user_id=a.actor_user_id,
            by_customer=a.by_customer,
            occurred_at=a.occurred_at,
        )
        for a in await complaints.actions(db_session, c)
    ]
    body = ComplaintDetailOut(**{f: getattr(base, f) for f in base.__struct_fields__}, actions=actions)
    return Response(body, status_code=status_code, headers={"ETag": etag(c.version)})


class ComplaintController(Controller):
    path = "/api/complaints"
    tags = ["complaints"]
    guards = [OFFICE]

    @post(
        operation_id="CreateComplaint",
        summary="File a complaint taken through any channel",
        description=(
            "Its response and resolution deadlines follow the complaint policy of its category. A complaint "
            "about a job tells the customer it was received, with a link to follow it."
        ),
    )
    async def create(
        self, data: ComplaintIn, principal: Principal, db_session: AsyncSession
    ) -> Response[ComplaintDetailOut]:
        complaint = await complaints.create_by_office(
            db_session,
            principal,
            job_id=data.job_id,
            customer_id=data.customer_id,
            category=data.category,
            channel=data.channel,
            description=data.description,
            now=dt.datetime.now(dt.UTC),
        )
        return await _detail(db_session, complaint, status_code=201)

    @get(
        operation_id="ListComplaints",
        summary="Complaints of your territories, the nearest resolution deadline first",
        description="`overdue=true` lists those past a deadline they have not met (respond-by or resolve-by).",
    )
    async def list_complaints(
        self,
        principal: Principal,
        db_session: AsyncSession,
        limit: Limit = 50,
        offset: Offset = 0,
        status: Annotated[list[ComplaintStatus] | None, Parameter(description="One or more statuses")] = None,
        category: ComplaintCategory | None = None,
        owner_user_id: uuid.UUID | None = None,
        job_id: uuid.UUID | None = None,
        overdue: bool | None = None,
    ) -> Page[ComplaintOut]:
        now = dt.datetime.now(dt.UTC)
        found, total = await complaints.list_complaints(
            db_session,
            principal,
            ComplaintFilter(
                statuses=tuple(status or ()),
                category=category,
                owner_user_id=owner_user_id,
                job_id=job_id,
                overdue=overdue,
            ),
            now=now,
            limit=limit,
            offset=offset,
        )
        return Page(items=[complaint_out(c, now) for c in found], total=total, limit=limit, offset=offset)

    @get("/{complaint_id:uuid}", operation_id="GetComplaint", summary="One complaint with its log of actions")
    async def get_complaint(
        self, complaint_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> Response[ComplaintDetailOut]:
        return await _detail(db_session, await complaints.get(db_session, principal, complaint_id))

    @post(
        "/{complaint_id:uuid}/actions",
        operation_id="AddComplaintAction",
        summary="Record what was done: contacted the customer, rework scheduled, refund requested, a note, a new owner",
        description=(
            "The first action other than a note or an owner change is the response the respond-by deadline is about."
        ),
        status_code=200,
    )
    async def act(
        self,
        request: Request[Any, Any, Any],
        complaint_id: uuid.UUID,
        data: ComplaintActionIn,
        principal: Principal,
        db_session: AsyncSession,
    ) -> Response[ComplaintDetailOut]:
        complaint = await complaints.act(
            db_session,
            principal,
            complaint_id,
            data.kind,
            data.note,
            owner_user_id=data.owner_user_id,
            now=dt.datetime.now(dt.UTC),
            expected_version=if_match_version(request, required=False),
        )
        return await _detail(db_session, complaint)

    @post(
        "/{complaint_id:uuid}/resolution",
        operation_id="ResolveComplaint",
        summary="Resolve the complaint; the customer is asked, through their link, whether it settles it",
        description="An unhappy answer reopens it with fresh deadlines (and, for the work or service, a rework job).",
        status_code=200,
    )
    async def resolve(
        self,
        request: Request[Any, Any, Any],
        complaint_id: uuid.UUID,
        data: ComplaintResolutionIn,
        principal: Principal,
        db_session: AsyncSession,
    ) -> Response[ComplaintDetailOut]:
        complaint = await complaints.resolve(
            db_session,
            principal,
            complaint_id,
            data.resolution,
            now=dt.datetime.now(dt.UTC),
            expected_version=if_match_version(request, required=False),
        )
        return await _detail(db_session, complaint)


class CustomerLinkController(Controller):
    path = "/api/jobs/{job_id:uuid}/customer-links"
    tags = ["customer links"]
    guards = [OFFICE]

    @post(
        operation_id="SendCustomerLink",
        summary="Send the customer a link for this job: confirm, track, sign off, survey, complaint or request",
        description=(
            "A new link and a message on every channel the customer can be reached on (one they opted out of is "
            "listed as suppressed). The link itself is never shown here: only the customer receives it."
        ),
    )
    async def send(
        self, job_id: uuid.UUID, data: CustomerLinkIn, principal: Principal, db_session: AsyncSession
    ) -> CustomerLinkOut:
        link, messages = await customer_links.send_link(
            db_session,
            principal,
            job_id,
            data.purpose,
            complaint_id=data.complaint_id,
            now=dt.datetime.now(dt.UTC),
        )
        return CustomerLinkOut(
            link_id=link.id,
            purpose=link.purpose,
            job_id=link.job_id,
            expires_at=link.expires_at,
            single_use=link.single_use,
            messages=[
                QueuedMessageOut(id=x.id, channel=x.channel, state=x.state.value, last_error=x.last_error)
                for x in messages
            ],
        )


class ComplaintPolicyController(Controller):
    path = "/api/complaint-policies"
    tags = ["complaints"]

    @get(
        operation_id="ListComplaintPolicies",
        guards=[OFFICE],
        summary="Respond and resolve times per complaint category",
    )
    async def list_policies(self, db_session: AsyncSession) -> list[ComplaintPolicyOut]:
        return [
            ComplaintPolicyOut(
                category=category,
                respond_within_s=terms.respond_within_s,
                resolve_within_s=terms.resolve_within_s,
                updated_at=row.updated_at if row else None,
            )
            for category, terms, row in await complaints.policies(db_session)
        ]

    @put(
        "/{category:str}",
        operation_id="SetComplaintPolicy",
        guards=[ADMIN],
        summary="Set a category's deadlines; complaints filed from now on get them",
    )
    async def set_policy(
        self,
        category: ComplaintCategory,
        data: ComplaintPolicyIn,
        principal: Principal,
        db_session: AsyncSession,
    ) -> ComplaintPolicyOut:
        row = await complaints.set_policy(db_session, category, data.respond_within_s, data.resolve_within_s)
        return ComplaintPolicyOut(
            category=row.category,
            respond_within_s=row.respond_within_s,
            resolve_within_s=row.resolve_within_s,
            updated_at=row.updated_at,
        )
