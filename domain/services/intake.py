"""Intake: a request from any channel becomes a customer (found or created), a site, and a classified job."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import sqlalchemy as sa
from geopy.distance import great_circle
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from domain import models as m
from domain.classification import Suggestion, deadlines
from domain.contacts import normalize_email, normalize_phone
from domain.enums import Channel, JobStatus, Priority, Role
from domain.errors import InvalidInput
from domain.principal import Principal
from domain.services.catalogue import sla_terms, suggest
from domain.services.classify import apply_service_type
from domain.services.jobs import record_status

UNTRIAGED_DURATION_S = 3600
MAX_WINDOWS = 20


class Locator(Protocol):
    async def locate(self, address: str) -> tuple[float, float]: ...


@dataclass(frozen=True, slots=True)
class CustomerDetails:
    name: str
    phone: str | None = None
    email: str | None = None
    consent_to_messages: bool = False


@dataclass(frozen=True, slots=True)
class SiteDetails:
    address: str
    latitude: float | None = None
    longitude: float | None = None
    access_notes: str | None = None


@dataclass(frozen=True, slots=True)
class Window:
    starts_at: dt.datetime
    ends_at: dt.datetime


@dataclass(frozen=True, slots=True)
class IntakeCommand:
    channel: Channel
    description: str
    customer: CustomerDetails
    site: SiteDetails | None = None
    site_id: uuid.UUID | None = None
    service_type_id: uuid.UUID | None = None
    priority: Priority | None = None
    windows: Sequence[Window] = ()
    received_at: dt.datetime | None = None


@dataclass(slots=True)
class IntakeResult:
    request: m.ServiceRequest
    job: m.Job
    customer: m.Customer
    site: m.Site
    customer_created: bool
    suggestions: list[tuple[m.ServiceType, Suggestion]] = field(default_factory=list)


async def take_request(
    session: AsyncSession, principal: Principal | None, locator: Locator, cmd: IntakeCommand
) -> IntakeResult:
    """`principal` None is the customer themselves, through the public request form."""
    _check_windows(cmd.windows)
    service_type = None
    if cmd.service_type_id is not None:
        service_type = await session.get(m.ServiceType, cmd.service_type_id)
        if service_type is None:
            raise InvalidInput("service_type_id", f"service type {cmd.service_type_id} does not exist")
    customer, created = await find_or_create_customer(session, cmd.customer)
    site = await _resolve_site(session, principal, locator, customer, cmd)

    received_at = cmd.received_at or dt.datetime.now(dt.UTC)
    request = m.ServiceRequest(
        channel=cmd.channel,
        customer_id=customer.id,
        site_id=site.id,
        description=cmd.description,
        received_at=received_at,
        taken_by_user_id=principal.user_id if principal else None,
    )
    session.add(request)
    await session.flush()

    job = m.Job(
        id=uuid.uuid4(),
        service_request_id=request.id,
        customer_id=customer.id,
        site_id=site.id,
        territory_id=site.territory_id,
        description=cmd.description,
        priority=cmd.priority or Priority.NORMAL,
        duration_s=UNTRIAGED_DURATION_S,
        status=JobStatus.NEW,
        checklist=[],
        parts=[],
        tools=[],
        suggested_service_type_codes=[],
        required_skills=[],
        time_windows=[
            m.JobTimeWindow(starts_at=w.starts_at.astimezone(dt.UTC), ends_at=w.ends_at.astimezone(dt.UTC))
            for w in sorted(cmd.windows, key=lambda w: w.starts_at)
        ],
        assignment=None,
    )
    suggestions: list[tuple[m.ServiceType, Suggestion]] = []
    if service_type is not None:
        apply_service_type(job, service_type, keep_priority=cmd.priority is not None)
    else:
        suggestions = await suggest(session, cmd.description)
        job.suggested_service_type_codes = [t.code for t, _ in suggestions]
    due = deadlines(received_at, await sla_terms(session, job.priority))
    job.respond_by, job.resolve_by = due.respond_by, due.resolve_by
    record_status(session, job, JobStatus.NEW, principal, f"intake via {cmd.channel}", initial=True)
    session.add(job)
    await session.flush()
    return IntakeResult(request, job, customer, site, created, suggestions)


def _check_windows(windows: Sequence[Window]) -> None:
    if len(windows) > MAX_WINDOWS:
        raise InvalidInput("windows", f"at most {MAX_WINDOWS} windows")
    for i, w in enumerate(windows):
        if w.ends_at <= w.starts_at:
            raise InvalidInput(f"windows[{i}]", "a window must end after it starts")


async def find_or_create_customer(session: AsyncSession, details: CustomerDetails) -> tuple[m.Customer, bool]:
    """The customer with this phone or e-mail, or a new one. A known customer gains the contact it lacked."""
    email = normalize_email(details.email) if details.email else None
    phone = normalize_phone(details.phone) if details.phone else None
    if details.email and email is None:
        raise InvalidInput("customer.email", "not a valid e-mail address")
    if details.phone and phone is None:
        raise InvalidInput("customer.phone", "not a valid phone number")
    if email is None and phone is None:
        raise InvalidInput(
            "customer", "a phone number or an e-mail address is needed to identify the customer"
        )

    existing = await _match(session, email, phone)
    if existing is not None:
        await _complete_contacts(session, existing, email, phone)
        return existing, False
    customer = m.Customer(
        name=details.name, email=email, phone=phone, consent_to_messages=details.consent_to_messages
    )
    try:
        async with session.begin_nested():
            session.add(customer)
    except IntegrityError:
        # Someone else created the same customer between our look-up and our insert.
        found = await _match(session, email, phone)
        if found is None:
            raise
        return found, False
    return customer, True


async def _match(session: AsyncSession, email: str | None, phone: str | None) -> m.Customer | None:
    clauses = []
    if email is not None:
        clauses.append(m.Customer.email == email)
    if phone is not None:
        clauses.append(m.Customer.phone == phone)
    found = list(await session.scalars(sa.select(m.Customer).where(sa.or_(*clauses))))
    # An e-mail is more personal than a phone line shared by a household or an office.
    found.sort(key=lambda c: (c.email != email, str(c.id)))
    return found[0] if found else None


async def _complete_contacts(
    session: AsyncSession, customer: m.Customer, email: str | None, phone: str | None
) -> None:
    if customer.email is None and email is not None and not await _taken(session, m.Customer.email, email):
        customer.email = email
    if customer.phone is None and phone is not None and not await _taken(session, m.Customer.phone, phone):
        customer.phone = phone


async def _taken(session: AsyncSession, column: sa.orm.InstrumentedAttribute[str | None], value: str) -> bool:
    return (await session.scalar(sa.select(sa.func.count()).where(column == value))) != 0


async def nearest_territory(session: AsyncSession, latitude: float, longitude: float) -> m.Territory:
    territories = list(await session.scalars(sa.select(m.Territory)))
    if not territories:
        raise InvalidInput("site", "no territory is defined yet; an admin must create one first")
    return min(
        territories,
        key=lambda t: great_circle((latitude, longitude), (t.center_latitude, t.center_longitude)).meters,
    )


async def _resolve_site(
    session: AsyncSession,
    principal: Principal | None,
    locator: Locator,
    customer: m.Customer,
    cmd: IntakeCommand,
) -> m.Site:
    if cmd.site_id is not None:
        site = await session.get(m.Site, cmd.site_id)
        if site is None or site.customer_id != customer.id:
            raise InvalidInput("site_id", f"site {cmd.site_id} is not one of this customer's sites")
    elif cmd.site is not None:
        site = await _find_or_create_site(session, locator, customer, cmd.site)
    else:
        raise InvalidInput("site", "give the site's address (or the id of one of the customer's sites)")
    if principal and principal.role is Role.DISPATCHER and site.territory_id not in principal.territory_ids:
        raise InvalidInput(
            "site", "the site lies outside your territories; pass the request to its dispatcher"
        )
    return site


async def _find_or_create_site(
    session: AsyncSession, locator: Locator, customer: m.Customer, details: SiteDetails
) -> m.Site:
    address = " ".join(details.address.split())
    for site in await session.scalars(sa.select(m.Site).where(m.Site.customer_id == customer.id)):
        if site.address.casefold() == address.casefold():
            return site
    if (details.latitude is None) != (details.longitude is None):
        raise InvalidInput("site", "give both latitude and longitude, or neither")
    if details.latitude is not None and details.longitude is not None:
        latitude, longitude = details.latitude, details.longitude
    else:
        latitude, longitude = await locator.locate(address)
    territory = await nearest_territory(session, latitude, longitude)
    site = m.Site(
        customer_id=customer.id,
        territory_id=territory.id,
        address=address,
        latitude=latitude,
        longitude=longitude,
        access_notes=details.access_notes,
    )
    session.add(site)
    await session.flush()
    return site
