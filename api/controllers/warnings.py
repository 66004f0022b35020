"""Early warnings for the office: what is about to go wrong in their territories, and acknowledging one."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from litestar import Controller, get, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import OFFICE
from api.deps import Limit, Offset
from api.schemas.base import Page
from api.schemas.warnings import WarningOut
from domain import models as m
from domain.enums import WarningKind
from domain.principal import Principal
from domain.services import warnings
from domain.services.warnings import WarningFilter, WarningState


def warning_out(w: m.EarlyWarning) -> WarningOut:
    return WarningOut(
        id=w.id,
        kind=w.kind,
        subject=w.subject,
        territory_id=w.territory_id,
        job_id=w.job_id,
        technician_id=w.technician_id,
        complaint_id=w.complaint_id,
        sync_exception_id=w.sync_exception_id,
        message=w.message,
        details=w.details if isinstance(w.details, dict) else {},
        due_at=w.due_at,
        raised_at=w.raised_at,
        acknowledged_at=w.acknowledged_at,
        acknowledged_by=w.acknowledged_by,
        cleared_at=w.cleared_at,
        cleared_reason=w.cleared_reason,
    )


class WarningController(Controller):
    path = "/api/warnings"
    tags = ["warnings"]
    guards = [OFFICE]

    @get(
        operation_id="ListWarnings",
        summary="Early warnings of your territories, the nearest deadline first",
        description=(
            "Late arrivals predicted from the published plan and the live statuses, appointments not confirmed "
            "close to the day, technicians behind the plan, complaints near a deadline, sync exceptions nobody "
            "looked at. Raised once by the background evaluation, cleared by it when resolved. `state=open` "
            "(default) lists those not cleared, acknowledged or not."
        ),
    )
    async def list_warnings(
        self,
        principal: Principal,
        db_session: AsyncSession,
        limit: Limit = 50,
        offset: Offset = 0,
        warning_state: Annotated[
            WarningState,
            Parameter(query="state", description="`open` (not cleared), `acknowledged`, `cleared` or `all`"),
        ] = WarningState.OPEN,
        kind: WarningKind | None = None,
        territory_id: uuid.UUID | None = None,
        job_id: uuid.UUID | None = None,
    ) -> Page[WarningOut]:
        found, total = await warnings.list_warnings(
            db_session,
            principal,
            WarningFilter(state=warning_state, kind=kind, territory_id=territory_id, job_id=job_id),
            limit=limit,
            offset=offset,
        )
        return Page(items=[warning_out(w) for w in found], total=total, limit=limit, offset=offset)

    @post(
        "/{warning_id:uuid}/acknowledge",
        operation_id="AcknowledgeWarning",
        summary="Say you are on it: records who and when",
        description=(
            "Acknowledging again changes nothing (the first acknowledgement stands). The warning stays listed "
            "until it clears by itself; a warning already cleared is a 409."
        ),
        status_code=200,
    )
    async def acknowledge(
        self, warning_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> WarningOut:
        found = await warnings.acknowledge(db_session, principal, warning_id, now=dt.datetime.now(dt.UTC))
        return warning_out(found)
