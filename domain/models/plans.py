"""Plans the optimizer proposes for a territory and day."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy.orm import Mapped, mapped_column

from domain.enums import PlanKind, PlanState
from domain.models.base import Base, enum_column_type


class Plan(Base):
    """One solve of one territory over one or more days, and what the dispatcher made of it.

    `problem` and `result` are the scheduler's own JSON (docs/scheduling.md): the problem as the database stood
    when the plan was asked for, with times in seconds from `origin`, and the plan as solved and then edited.
    """

    __tablename__ = "plans"
    __table_args__ = (
        sa.CheckConstraint("days BETWEEN 1 AND 7", name="days_range"),
        sa.CheckConstraint("time_limit_s > 0", name="positive_time_limit"),
        sa.Index("ix_plans_territory_day_state", "territory_id", "day", "state"),
    )

    territory_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("territories.id"))
    day: Mapped[dt.date] = mapped_column(sa.Date)
    days: Mapped[int] = mapped_column(sa.Integer, default=1)
    kind: Mapped[PlanKind] = mapped_column(enum_column_type(PlanKind, "plan_kind"), default=PlanKind.OPTIMIZE)
    state: Mapped[PlanState] = mapped_column(
        enum_column_type(PlanState, "plan_state"), default=PlanState.QUEUED
    )
    time_limit_s: Mapped[float] = mapped_column(sa.Float)
    requested_by_user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id"))
    # The published plan this one starts from (warm start, re-plans), if any.
    base_plan_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("plans.id"))
    note: Mapped[str | None] = mapped_column(sa.Text)
    origin: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    problem: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    result: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    # Jobs of the territory and horizon that the plan leaves aside before solving (untriaged), with why.
    set_aside: Mapped[dict[str, str]] = mapped_column(sa.JSON, default=dict)
    error: Mapped[str | None] = mapped_column(sa.Text)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    # Progress while solving: seconds so far, the best objective and how many jobs it assigns.
    elapsed_s: Mapped[float | None] = mapped_column(sa.Float)
    best_objective: Mapped[float | None] = mapped_column(sa.Float)
    assigned_so_far: Mapped[int | None] = mapped_column(sa.Integer)
    version: Mapped[int] = mapped_column(sa.Integer, default=1)

    __mapper_args__ = {"version_id_col": version}
