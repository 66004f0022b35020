"""advanced-alchemy repositories for the lists that are paged."""

from __future__ import annotations

from advanced_alchemy.repository import SQLAlchemyAsyncRepository

from domain import models as m


class JobRepository(SQLAlchemyAsyncRepository[m.Job]):
    model_type = m.Job


class CustomerRepository(SQLAlchemyAsyncRepository[m.Customer]):
    model_type = m.Customer


class TechnicianRepository(SQLAlchemyAsyncRepository[m.Technician]):
    model_type = m.Technician


class UserRepository(SQLAlchemyAsyncRepository[m.User]):
    model_type = m.User


class SyncExceptionRepository(SQLAlchemyAsyncRepository[m.SyncException]):
    model_type = m.SyncException


class ComplaintRepository(SQLAlchemyAsyncRepository[m.Complaint]):
    model_type = m.Complaint
