"""Managing the reference data: customers and sites, technicians and shifts, skills, territories, service types,
SLA policies and staff accounts. Every read is scoped by the principal."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain import models as m
from domain.contacts import normalize_email, normalize_phone
from domain.enums import Priority, Role
from domain.errors import Conflict, InvalidInput, NotFound
from domain.paging import page
from domain.passwords import hash_password
from domain.principal import Principal
from domain.repositories import CustomerRepository, TechnicianRepository, UserRepository
from domain.scoping import visible_technicians
from domain.services.catalogue import set_terms
from domain.services.intake import Locator, nearest_territory

T = TypeVar("T", bound=m.Base)


async def get_or_404(session: AsyncSession, model: type[T], ident: uuid.UUID) -> T:
    found = await session.get(model, ident)
    if found is None:
        raise NotFound(model.__name__.lower(), ident)
    return found


def apply(obj: object, changes: Mapping[str, Any]) -> None:
    for key, value in changes.items():
        setattr(obj, key, value)


async def ensure_unique(
    session: AsyncSession, column: Any, value: Any, field: str, exclude: uuid.UUID | None
) -> None:
    """A clear 409 before the database's unique constraint would answer with a bare error."""
    stmt = sa.select(sa.func.count()).where(column == value)
    if exclude is not None:
        stmt = stmt.where(column.class_.id != exclude)
    if await session.scalar(stmt):
        raise Conflict(f"{field} '{value}' is already in use")


async def delete_unreferenced(session: AsyncSession, obj: m.Base, what: str) -> None:
    """Delete, or a 409 when other records still refer to it (history is never orphaned)."""
    try:
        async with session.begin_nested():
            await session.delete(obj)
    except sa.exc.IntegrityError as exc:
        raise Conflict(f"the {what} is still in use and cannot be deleted") from exc


# Customers and sites ---------------------------------------------------------------------------------------------


def _customer_contacts(changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(changes)
    if out.get("email") is not None:
        out["email"] = normalize_email(out["email"])
        if out["email"] is None:
            raise InvalidInput("email", "not a valid e-mail address")
    if out.get("phone") is not None:
        out["phone"] = normalize_phone(out["phone"])
        if out["phone"] is None:
            raise InvalidInput("phone", "not a valid phone number")
    return out


async def list_customers(
    session: AsyncSession, search: str | None, *, limit: int, offset: int
) -> tuple[Sequence[m.Customer], int]:
    stmt = sa.select(m.Customer).order_by(m.Customer.name, m.Customer.id)
    if search:
        pattern = f"%{search.casefold()}%"
        stmt = stmt.where(
            sa.or_(
                sa.func.lower(m.Customer.name).like(pattern),
                m.Customer.email.like(pattern),
                m.Customer.phone.like(f"%{search}%"),
            )
        )
    return await page(CustomerRepository(session=session), stmt, limit=limit, offset=offset)


async def create_customer(session: AsyncSession, values: dict[str, Any]) -> m.Customer:
    values = _customer_contacts(values)
    if values.get("email") is None and values.get("phone") is None:
        raise InvalidInput("phone", "a phone number or an e-mail address is needed")
    for field in ("email", "phone"):
        if values.get(field) is not None:
            await ensure_unique(session, getattr(m.Customer, field), values[field], field, None)
    customer = m.Customer(**values)
    session.add(customer)
    await session.flush()
    return customer


async def update_customer(
    session: AsyncSession, customer_id: uuid.UUID, changes: dict[str, Any]
) -> m.Customer:
    customer = await get_or_404(session, m.Customer, customer_id)
    changes = _customer_contacts(changes)
    for field in ("email", "phone"):
        if changes.get(field) is not None:
            await ensure_unique(session, getattr(m.Customer, field), changes[field], field, customer.id)
    apply(customer, changes)
    await session.flush()
    return customer


async def list_sites(session: AsyncSession, customer_id: uuid.UUID) -> list[m.Site]:
    await get_or_404(session, m.Customer, customer_id)
    return list(
        await session.scalars(
            sa.select(m.Site).where(m.Site.customer_id == customer_id).order_by(m.Site.address)
        )
    )


async def create_site(
    session: AsyncSession, locator: Locator, customer_id: uuid.UUID, values: dict[str, Any]
) -> m.Site:
    await get_or_404(session, m.Customer, customer_id)
    latitude, longitude = values.pop("latitude", None), values.pop("longitude", None)
    if (latitude is None) != (longitude is None):
        raise InvalidInput("latitude", "give both latitude and longitude, or neither")
    if latitude is None or longitude is None:
        latitude, longitude = await locator.locate(values["address"])
    territory = await nearest_territory(session, latitude, longitude)
    site = m.Site(
        customer_id=customer_id, territory_id=territory.id, latitude=latitude, longitude=longitude, **values
    )
    session.add(site)
    await session.flush()
    return site


async def update_site(session: AsyncSession, site_id: uuid.UUID, changes: dict[str, Any]) -> m.Site:
    site = await get_or_404(session, m.Site, site_id)
    apply(site, changes)
    await session.flush()
    return site


# Technicians and shifts ------------------------------------------------------------------------------------------


async def get_technician(
    session: AsyncSession, principal: Principal, technician_id: uuid.UUID
) -> m.Technician:
    found = await session.scalar(visible_technicians(principal).where(m.Technician.id == technician_id))
    if found is None:
        raise NotFound("technician", technician_id)
    return found


async def list_technicians(
    session: AsyncSession, principal: Principal, territory_id: uuid.UUID | None, *, limit: int, offset: int
) -> tuple[Sequence[m.Technician], int]:
    stmt = visible_technicians(principal).order_by(m.Technician.name, m.Technician.id)
    if territory_id is not None:
        stmt = stmt.where(m.Technician.territory_id == territory_id)
    return await page(TechnicianRepository(session=session), stmt, limit=limit, offset=offset)


async def _check_territory(session: AsyncSession, principal: Principal, territory_id: uuid.UUID) -> None:
    if await session.get(m.Territory, territory_id) is None or not principal.sees_territory(territory_id):
        raise InvalidInput("territory_id", f"territory {territory_id} does not exist or is not yours")


async def _check_skill_ids(session: AsyncSession, skills: Sequence[Mapping[str, Any]]) -> None:
    """Each skill listed once and known, or a 422 naming the entry at fault."""
    ids = [s["skill_id"] for s in skills]
    if len(set(ids)) != len(ids):
        raise InvalidInput("skills", "a skill is listed twice")
    known = set(await session.scalars(sa.select(m.Skill.id).where(m.Skill.id.in_(ids))))
    for i, skill_id in enumerate(ids):
        if skill_id not in known:
            raise InvalidInput(f"skills[{i}].skill_id", f"skill {skill_id} does not exist")


async def _held_skills(session: AsyncSession, skills: Sequence[Mapping[str, Any]]) -> list[m.TechnicianSkill]:
    await _check_skill_ids(session, skills)
    return [m.TechnicianSkill(skill_id=s["skill_id"], level=s["level"]) for s in skills]


def _replace_levels(held: list[Any], wanted: list[Any], level: str) -> None:
    """Make `held` hold exactly `wanted`, changing levels in place: deleting a row and inserting one for the same
    skill in one flush would hit the unique constraint, since the unit of work inserts before it deletes."""
    by_skill = {w.skill_id: w for w in wanted}
    for row in list(held):
        if row.skill_id in by_skill:
            setattr(row, level, getattr(by_skill.pop(row.skill_id), level))
        else:
            held.remove(row)
    held.extend(by_skill.values())


async def create_technician(
    session: AsyncSession, principal: Principal, values: dict[str, Any]
) -> m.Technician:
    await _check_territory(session, principal, values["territory_id"])
    skills = await _held_skills(session, values.pop("skills", []))
    if values.get("email") is not None:
        values["email"] = normalize_email(values["email"])
        if values["email"] is None:
            raise InvalidInput("email", "not a valid e-mail address")
        await ensure_unique(session, m.Technician.email, values["email"], "email", None)
    technician = m.Technician(**values, skills=skills)
    session.add(technician)
    await session.flush()
    return technician


async def update_technician(
    session: AsyncSession, principal: Principal, technician_id: uuid.UUID, changes: dict[str, Any]
) -> m.Technician:
    technician = await get_technician(session, principal, technician_id)
    if "territory_id" in changes:
        await _check_territory(session, principal, changes["territory_id"])
    if "skills" in changes:
        wanted = await _held_skills(session, changes.pop("skills"))
        _replace_levels(technician.skills, wanted, "level")
    apply(technician, changes)
    await session.flush()
    return technician


async def list_shifts(session: AsyncSession, principal: Principal, technician_id: uuid.UUID) -> list[m.Shift]:
    await get_technician(session, principal, technician_id)
    return list(
        await session.scalars(
            sa.select(m.Shift).where(m.Shift.technician_id == technician_id).order_by(m.Shift.starts_at)
        )
    )


async def create_shift(
    session: AsyncSession, principal: Principal, technician_id: uuid.UUID, values: dict[str, Any]
) -> m.Shift:
    await get_technician(session, principal, technician_id)
    breaks = values.pop("breaks", [])
    if values["ends_at"] <= values["starts_at"]:
        raise InvalidInput("ends_at", "a shift must end after it starts")
    for i, b in enumerate(breaks):
        if b["latest_end"] <= b["earliest_start"]:
            raise InvalidInput(f"breaks[{i}]", "a break's latest end must come after its earliest start")
        if b["earliest_start"] < values["starts_at"] or b["latest_end"] > values["ends_at"]:
            raise InvalidInput(f"breaks[{i}]", "a break must lie within its shift")
        if (b["latest_end"] - b["earliest_start"]).total_seconds() < b["duration_s"]:
            raise InvalidInput(
                f"breaks[{i}].duration_s", "the break does not fit between its earliest start and end"
            )
    overlapping = await session.scalar(
        sa.select(sa.func.count()).where(
            m.Shift.technician_id == technician_id,
            m.Shift.starts_at < values["ends_at"],
            m.Shift.ends_at > values["starts_at"],
        )
    )
    if overlapping:
        raise Conflict("the shift overlaps another shift of this technician")
    shift = m.Shift(technician_id=technician_id, breaks=[m.ShiftBreak(**b) for b in breaks], **values)
    session.add(shift)
    await session.flush()
    return shift


async def delete_shift(
    session: AsyncSession, principal: Principal, technician_id: uuid.UUID, shift_id: uuid.UUID
) -> None:
    await get_technician(session, principal, technician_id)
    shift = await session.get(m.Shift, shift_id)
    if shift is None or shift.technician_id != technician_id:
        raise NotFound("shift", shift_id)
    await session.delete(shift)
    await session.flush()


# Skills, territories, service types, SLA policies ---------------------------------------------------------------


async def list_all(session: AsyncSession, model: type[T], order_by: Any) -> list[T]:
    return list(await session.scalars(sa.select(model).order_by(order_by)))


async def create_coded(session: AsyncSession, model: type[T], values: dict[str, Any]) -> T:
    await ensure_unique(session, model.code, values["code"], "code", None)  # type: ignore[attr-defined]
    obj = model(**values)
    session.add(obj)
    await session.flush()
    return obj


async def create_territory(
    session: AsyncSession, principal: Principal, values: dict[str, Any]
) -> m.Territory:
    """A dispatcher who opens a territory becomes one of its dispatchers, or they could not see their own work."""
    territory = await create_coded(session, m.Territory, values)
    if principal.role is Role.DISPATCHER:
        user = await session.get_one(m.User, principal.user_id)
        user.territories.append(territory)
        await session.flush()
    return territory


async def _own_territory(session: AsyncSession, principal: Principal, territory_id: uuid.UUID) -> m.Territory:
    if not principal.sees_territory(territory_id):
        raise NotFound("territory", territory_id)
    return await get_or_404(session, m.Territory, territory_id)


async def update_territory(
    session: AsyncSession, principal: Principal, territory_id: uuid.UUID, changes: dict[str, Any]
) -> m.Territory:
    territory = await _own_territory(session, principal, territory_id)
    apply(territory, changes)
    await session.flush()
    return territory


async def delete_territory(session: AsyncSession, principal: Principal, territory_id: uuid.UUID) -> None:
    await delete_unreferenced(session, await _own_territory(session, principal, territory_id), "territory")


async def update_plain(session: AsyncSession, model: type[T], ident: uuid.UUID, changes: dict[str, Any]) -> T:
    obj = await get_or_404(session, model, ident)
    apply(obj, changes)
    await session.flush()
    return obj


async def delete_by_id(session: AsyncSession, model: type[T], ident: uuid.UUID, what: str) -> None:
    await delete_unreferenced(session, await get_or_404(session, model, ident), what)


async def _type_skills(
    session: AsyncSession, skills: Sequence[Mapping[str, Any]]
) -> list[m.ServiceTypeSkill]:
    await _check_skill_ids(session, skills)
    return [m.ServiceTypeSkill(skill_id=s["skill_id"], min_level=s["min_level"]) for s in skills]


async def create_service_type(session: AsyncSession, values: dict[str, Any]) -> m.ServiceType:
    values["skills"] = await _type_skills(session, values.get("skills", []))
    return await create_coded(session, m.ServiceType, values)


async def update_service_type(
    session: AsyncSession, service_type_id: uuid.UUID, changes: dict[str, Any]
) -> m.ServiceType:
    service_type = await get_or_404(session, m.ServiceType, service_type_id)
    if "skills" in changes:
        wanted_needs = await _type_skills(session, changes.pop("skills"))
        _replace_levels(service_type.skills, wanted_needs, "min_level")
    apply(service_type, changes)
    await session.flush()
    return service_type


async def set_sla_policy(
    session: AsyncSession, priority: Priority, respond_s: int, resolve_s: int
) -> m.SlaPolicy:
    return await set_terms(session, m.SlaPolicy, m.SlaPolicy.priority, priority, respond_s, resolve_s)


# Staff accounts ---------------------------------------------------------------------------------------------------


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    full_name: str,
    password: str,
    role: Role,
    technician_id: uuid.UUID | None = None,
    territory_ids: Sequence[uuid.UUID] = (),
) -> m.User:
    normalized = normalize_email(email)
    if normalized is None:
        raise InvalidInput("email", "not a valid e-mail address")
    await ensure_unique(session, m.User.email, normalized, "email", None)
    if role is Role.TECHNICIAN:
        if technician_id is None or await session.get(m.Technician, technician_id) is None:
            raise InvalidInput("technician_id", "a technician account needs an existing technician")
        await ensure_unique(session, m.User.technician_id, technician_id, "technician_id", None)
    elif technician_id is not None:
        raise InvalidInput("technician_id", "only a technician account is linked to a technician")
    territories = list(await session.scalars(sa.select(m.Territory).where(m.Territory.id.in_(territory_ids))))
    if len(territories) != len(set(territory_ids)):
        raise InvalidInput("territory_ids", "a territory does not exist")
    if role is not Role.DISPATCHER and territories:
        raise InvalidInput("territory_ids", "only dispatchers are given territories")
    user = m.User(
        email=normalized,
        full_name=full_name,
        password_hash=hash_password(password),
        role=role,
        technician_id=technician_id,
        territories=territories,
    )
    session.add(user)
    await session.flush()
    return user


async def list_users(session: AsyncSession, *, limit: int, offset: int) -> tuple[Sequence[m.User], int]:
    stmt = sa.select(m.User).order_by(m.User.email)
    return await page(UserRepository(session=session), stmt, limit=limit, offset=offset)
