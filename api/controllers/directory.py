"""Reference data: customers and sites, technicians and shifts, skills, territories, service types, SLA, users."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

import msgspec
from litestar import Controller, Request, delete, get, patch, post, put
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import ADMIN, OFFICE
from api.controllers.system import user_out
from api.deps import Limit, Offset
from api.schemas.base import Page
from api.schemas.catalogue import (
    ServiceTypeIn,
    ServiceTypeOut,
    ServiceTypePatch,
    SkillIn,
    SkillOut,
    SkillPatch,
    SlaPolicyIn,
    SlaPolicyOut,
    TerritoryIn,
    TerritoryOut,
    TerritoryPatch,
)
from api.schemas.people import (
    CustomerIn,
    CustomerOut,
    CustomerPatch,
    ShiftIn,
    ShiftOut,
    SiteIn,
    SiteOut,
    SitePatch,
    TechnicianIn,
    TechnicianOut,
    TechnicianPatch,
    UserIn,
    UserOut,
)
from domain import models as m
from domain.classification import DEFAULT_SLA
from domain.enums import Priority
from domain.principal import Principal
from domain.services import directory as d

S = TypeVar("S", bound=msgspec.Struct)


def out(obj: object, struct: type[S]) -> S:
    return msgspec.convert(obj, struct, from_attributes=True)


def given(data: msgspec.Struct) -> dict[str, Any]:
    """The fields a write struct carries, nested structs as dicts; in a PATCH, null means 'leave as is'."""
    values: dict[str, Any] = {}
    for key, value in msgspec.structs.asdict(data).items():
        if value is None:
            continue
        if isinstance(value, list):
            value = [msgspec.structs.asdict(v) if isinstance(v, msgspec.Struct) else v for v in value]
        values[key] = value
    return values


class CustomerController(Controller):
    path = "/api/customers"
    tags = ["customers"]
    guards = [OFFICE]

    @get(operation_id="ListCustomers", summary="Customers, searchable by name, e-mail or phone")
    async def list_customers(
        self, db_session: AsyncSession, limit: Limit = 50, offset: Offset = 0, q: str | None = None
    ) -> Page[CustomerOut]:
        items, total = await d.list_customers(db_session, q, limit=limit, offset=offset)
        return Page(items=[out(c, CustomerOut) for c in items], total=total, limit=limit, offset=offset)

    @get("/{customer_id:uuid}", operation_id="GetCustomer")
    async def get_customer(self, customer_id: uuid.UUID, db_session: AsyncSession) -> CustomerOut:
        return out(await d.get_or_404(db_session, m.Customer, customer_id), CustomerOut)

    @post(operation_id="CreateCustomer")
    async def create_customer(
        self, data: CustomerIn, principal: Principal, db_session: AsyncSession
    ) -> CustomerOut:
        return out(await d.create_customer(db_session, given(data)), CustomerOut)

    @patch("/{customer_id:uuid}", operation_id="UpdateCustomer")
    async def update_customer(
        self, customer_id: uuid.UUID, data: CustomerPatch, principal: Principal, db_session: AsyncSession
    ) -> CustomerOut:
        return out(await d.update_customer(db_session, customer_id, given(data)), CustomerOut)

    @get("/{customer_id:uuid}/sites", operation_id="ListSites")
    async def list_sites(self, customer_id: uuid.UUID, db_session: AsyncSession) -> list[SiteOut]:
        return [out(s, SiteOut) for s in await d.list_sites(db_session, customer_id)]

    @post(
        "/{customer_id:uuid}/sites",
        operation_id="CreateSite",
        summary="Add a site; an address alone is geocoded",
    )
    async def create_site(
        self,
        request: Request[Any, Any, Any],
        customer_id: uuid.UUID,
        data: SiteIn,
        principal: Principal,
        db_session: AsyncSession,
    ) -> SiteOut:
        site = await d.create_site(db_session, request.app.state.locator, customer_id, given(data))
        return out(site, SiteOut)


class SiteController(Controller):
    path = "/api/sites"
    tags = ["customers"]
    guards = [OFFICE]

    @patch("/{site_id:uuid}", operation_id="UpdateSite")
    async def update_site(
        self, site_id: uuid.UUID, data: SitePatch, principal: Principal, db_session: AsyncSession
    ) -> SiteOut:
        return out(await d.update_site(db_session, site_id, given(data)), SiteOut)


class TechnicianController(Controller):
    path = "/api/technicians"
    tags = ["technicians"]
    guards = [OFFICE]

    @get(operation_id="ListTechnicians", summary="Technicians of the caller's territories")
    async def list_technicians(
        self,
        principal: Principal,
        db_session: AsyncSession,
        limit: Limit = 50,
        offset: Offset = 0,
        territory_id: uuid.UUID | None = None,
    ) -> Page[TechnicianOut]:
        items, total = await d.list_technicians(
            db_session, principal, territory_id, limit=limit, offset=offset
        )
        return Page(items=[out(t, TechnicianOut) for t in items], total=total, limit=limit, offset=offset)

    @get("/{technician_id:uuid}", operation_id="GetTechnician")
    async def get_technician(
        self, technician_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> TechnicianOut:
        return out(await d.get_technician(db_session, principal, technician_id), TechnicianOut)

    @post(operation_id="CreateTechnician")
    async def create_technician(
        self, data: TechnicianIn, principal: Principal, db_session: AsyncSession
    ) -> TechnicianOut:
        return out(await d.create_technician(db_session, principal, given(data)), TechnicianOut)

    @patch("/{technician_id:uuid}", operation_id="UpdateTechnician")
    async def update_technician(
        self, technician_id: uuid.UUID, data: TechnicianPatch, principal: Principal, db_session: AsyncSession
    ) -> TechnicianOut:
        technician = await d.update_technician(db_session, principal, technician_id, given(data))
        return out(technician, TechnicianOut)

    @get("/{technician_id:uuid}/shifts", operation_id="ListShifts")
    async def list_shifts(
        self, technician_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> list[ShiftOut]:
        return [out(s, ShiftOut) for s in await d.list_shifts(db_session, principal, technician_id)]

    @post("/{technician_id:uuid}/shifts", operation_id="CreateShift", summary="Add a shift with its breaks")
    async def create_shift(
        self, technician_id: uuid.UUID, data: ShiftIn, principal: Principal, db_session: AsyncSession
    ) -> ShiftOut:
        return out(await d.create_shift(db_session, principal, technician_id, given(data)), ShiftOut)

    @delete("/{technician_id:uuid}/shifts/{shift_id:uuid}", operation_id="DeleteShift")
    async def delete_shift(
        self, technician_id: uuid.UUID, shift_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> None:
        await d.delete_shift(db_session, principal, technician_id, shift_id)


class SkillController(Controller):
    path = "/api/skills"
    tags = ["catalogue"]

    @get(operation_id="ListSkills", guards=[OFFICE])
    async def list_skills(self, db_session: AsyncSession) -> list[SkillOut]:
        return [out(s, SkillOut) for s in await d.list_all(db_session, m.Skill, m.Skill.code)]

    @post(operation_id="CreateSkill", guards=[OFFICE])
    async def create_skill(self, data: SkillIn, principal: Principal, db_session: AsyncSession) -> SkillOut:
        return out(await d.create_coded(db_session, m.Skill, given(data)), SkillOut)

    @patch("/{skill_id:uuid}", operation_id="UpdateSkill", guards=[OFFICE])
    async def update_skill(
        self, skill_id: uuid.UUID, data: SkillPatch, principal: Principal, db_session: AsyncSession
    ) -> SkillOut:
        return out(await d.update_plain(db_session, m.Skill, skill_id, given(data)), SkillOut)

    @delete("/{skill_id:uuid}", operation_id="DeleteSkill", guards=[OFFICE])
    async def delete_skill(self, skill_id: uuid.UUID, principal: Principal, db_session: AsyncSession) -> None:
        await d.delete_by_id(db_session, m.Skill, skill_id, "skill")


class TerritoryController(Controller):
    path = "/api/territories"
    tags = ["catalogue"]

    @get(operation_id="ListTerritories", guards=[OFFICE])
    async def list_territories(self, db_session: AsyncSession) -> list[TerritoryOut]:
        return [out(t, TerritoryOut) for t in await d.list_all(db_session, m.Territory, m.Territory.code)]

    @post(operation_id="CreateTerritory", guards=[OFFICE])
    async def create_territory(
        self, data: TerritoryIn, principal: Principal, db_session: AsyncSession
    ) -> TerritoryOut:
        return out(await d.create_territory(db_session, principal, given(data)), TerritoryOut)

    @patch("/{territory_id:uuid}", operation_id="UpdateTerritory", guards=[OFFICE])
    async def update_territory(
        self, territory_id: uuid.UUID, data: TerritoryPatch, principal: Principal, db_session: AsyncSession
    ) -> TerritoryOut:
        return out(await d.update_territory(db_session, principal, territory_id, given(data)), TerritoryOut)

    @delete("/{territory_id:uuid}", operation_id="DeleteTerritory", guards=[OFFICE])
    async def delete_territory(
        self, territory_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> None:
        await d.delete_territory(db_session, principal, territory_id)


class ServiceTypeController(Controller):
    path = "/api/service-types"
    tags = ["catalogue"]

    @get(operation_id="ListServiceTypes", guards=[OFFICE])
    async def list_service_types(self, db_session: AsyncSession) -> list[ServiceTypeOut]:
        types = await d.list_all(db_session, m.ServiceType, m.ServiceType.code)
        return [out(t, ServiceTypeOut) for t in types]

    @post(operation_id="CreateServiceType", guards=[OFFICE])
    async def create_service_type(
        self, data: ServiceTypeIn, principal: Principal, db_session: AsyncSession
    ) -> ServiceTypeOut:
        return out(await d.create_service_type(db_session, given(data)), ServiceTypeOut)

    @patch("/{service_type_id:uuid}", operation_id="UpdateServiceType", guards=[OFFICE])
    async def update_service_type(
        self,
        service_type_id: uuid.UUID,
        data: ServiceTypePatch,
        principal: Principal,
        db_session: AsyncSession,
    ) -> ServiceTypeOut:
        return out(await d.update_service_type(db_session, service_type_id, given(data)), ServiceTypeOut)

    @delete("/{service_type_id:uuid}", operation_id="DeleteServiceType", guards=[OFFICE])
    async def delete_service_type(
        self, service_type_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> None:
        await d.delete_by_id(db_session, m.ServiceType, service_type_id, "service type")


class SlaPolicyController(Controller):
    path = "/api/sla-policies"
    tags = ["catalogue"]

    @get(operation_id="ListSlaPolicies", guards=[OFFICE], summary="Respond and resolve times per priority")
    async def list_policies(self, db_session: AsyncSession) -> list[SlaPolicyOut]:
        stored = {p.priority: p for p in await d.list_all(db_session, m.SlaPolicy, m.SlaPolicy.priority)}
        return [
            out(stored[p], SlaPolicyOut)
            if p in stored
            else SlaPolicyOut(
                priority=p,
                respond_within_s=DEFAULT_SLA[p].respond_within_s,
                resolve_within_s=DEFAULT_SLA[p].resolve_within_s,
            )
            for p in Priority
        ]

    @put("/{priority:str}", operation_id="SetSlaPolicy", guards=[ADMIN])
    async def set_policy(
        self, priority: Priority, data: SlaPolicyIn, principal: Principal, db_session: AsyncSession
    ) -> SlaPolicyOut:
        policy = await d.set_sla_policy(db_session, priority, data.respond_within_s, data.resolve_within_s)
        return out(policy, SlaPolicyOut)


class UserController(Controller):
    path = "/api/users"
    tags = ["users"]
    guards = [ADMIN]

    @get(operation_id="ListUsers")
    async def list_users(
        self, db_session: AsyncSession, limit: Limit = 50, offset: Offset = 0
    ) -> Page[UserOut]:
        items, total = await d.list_users(db_session, limit=limit, offset=offset)
        return Page(items=[user_out(u) for u in items], total=total, limit=limit, offset=offset)

    @post(operation_id="CreateUser")
    async def create_user(self, data: UserIn, principal: Principal, db_session: AsyncSession) -> UserOut:
        user = await d.create_user(
            db_session,
            email=data.email,
            full_name=data.full_name,
            password=data.password,
            role=data.role,
            technician_id=data.technician_id,
            territory_ids=data.territory_ids,
        )
        return user_out(user)
