"""Who is asking. Every scoped query takes one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from domain.enums import Role


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: uuid.UUID
    role: Role
    technician_id: uuid.UUID | None = None
    territory_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)

    @property
    def actor(self) -> str:
        """How the audit log names this principal."""
        return f"user:{self.user_id}"

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def sees_territory(self, territory_id: uuid.UUID) -> bool:
        return self.role is Role.ADMIN or territory_id in self.territory_ids


SYSTEM_ACTOR = "system"
