"""Appointment slots for a job: offered best first, and booked with a guard against the last room going twice."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter
from msgspec import to_builtins
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import OFFICE
from api.planning import slots
from api.problems import problem
from api.schemas.plans import BookIn, BookingOut, SlotOut
from domain.principal import Principal


def slot_out(slot: slots.Slot) -> SlotOut:
    return SlotOut(**dataclasses.asdict(slot))


def on_slot_taken(_: Request[Any, Any, Any], exc: slots.SlotTaken) -> Response[dict[str, Any]]:
    return problem(409, "Slot taken", exc.detail, slots=to_builtins([slot_out(s) for s in exc.slots]))


class SlotController(Controller):
    path = "/api/jobs/{job_id:uuid}/slots"
    tags = ["slots"]
    guards = [OFFICE]

    @get(
        operation_id="ListJobSlots",
        summary="Two-hour slots inside the customer's acceptable windows, graded against the day as it stands",
        description=(
            "Feasible slots first, cheapest (least added travel) first, each with the technician and start it "
            "would get; then the slots that do not fit. Without `day`, tomorrow in the territory's time zone."
        ),
    )
    async def list_slots(
        self,
        job_id: uuid.UUID,
        principal: Principal,
        db_session: AsyncSession,
        day: dt.date | None = None,
        days: Annotated[int, Parameter(ge=1, le=7)] = 1,
    ) -> list[SlotOut]:
        found = await slots.list_slots(db_session, principal, job_id, day, days)
        return [slot_out(s) for s in found]

    @post(
        "/booking",
        operation_id="BookJobSlot",
        summary="Book a slot: it becomes the job's appointment and its room is reserved at once",
        description=(
            "Confirmed at once (the customer agreed on the phone), or with `offer` sent to the customer to "
            "confirm or reschedule through their link. Either way the customer is told. A slot that no longer "
            "fits is a 409 whose `slots` are the ones still open."
        ),
        status_code=200,
    )
    async def book(
        self, job_id: uuid.UUID, data: BookIn, principal: Principal, db_session: AsyncSession
    ) -> BookingOut:
        job, slot, _ = await slots.book_slot(
            db_session, principal, job_id, data.starts_at, data.ends_at, offer=data.offer
        )
        return BookingOut(job_id=job.id, status=job.status, slot=slot_out(slot))
