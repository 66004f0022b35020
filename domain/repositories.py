"""advanced-alchemy repositories, one per aggregate."""

from __future__ import annotations

from advanced_alchemy.repository import SQLAlchemyAsyncRepository

from domain import models as m


class JobRepository(SQLAlchemyAsyncRepository[m.Job]):
    model_type = m.Job


class CustomerRepository(SQLAlchemyAsyncRepository[m.Customer]):
    model_type = m.Customer


class SiteRepository(SQLAlchemyAsyncRepository[m.Site]):
    model_type = m.Site


class TechnicianRepository(SQLAlchemyAsyncRepository[m.Technician]):
    model_type = m.Technician


class ShiftRepository(SQLAlchemyAsyncRepository[m.Shift]):
    model_type = m.Shift


class SkillRepository(SQLAlchemyAsyncRepository[m.Skill]):
    model_type = m.Skill


class ServiceTypeRepository(SQLAlchemyAsyncRepository[m.ServiceType]):
    model_type = m.ServiceType


class TerritoryRepository(SQLAlchemyAsyncRepository[m.Territory]):
    model_type = m.Territory


class SlaPolicyRepository(SQLAlchemyAsyncRepository[m.SlaPolicy]):
    model_type = m.SlaPolicy


class UserRepository(SQLAlchemyAsyncRepository[m.User]):
    model_type = m.User
