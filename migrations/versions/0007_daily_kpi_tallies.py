"""Daily KPI tallies: the closed days' measures (overall and by technician) and response times, the notes of
what went stale, the store's state

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 04:34:51.646083
"""

from collections.abc import Sequence
from typing import Any

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
GUID = advanced_alchemy.types.guid.GUID(length=16)

# The additive measures of a day (domain.kpis.tally.Tally), written out: a migration must not change when the
# application's code does.
INTEGERS = [
    "ratings",
    "good_ratings",
    "score_sum",
    "fast_responses",
    "other_responses",
    "deadlines",
    "deadlines_met",
    "jobs_completed",
    "reopened",
    "first_visits",
    "first_visits_fixed",
    "visits",
    "travelled",
    "distanced",
    "arrivals",
    "on_time",
    "complaints",
    "complaints_resolved",
]
BIG_INTEGERS = [
    "value_cents",
    "on_site_s",
    "travel_s",
    "travel_m",
    "valued_on_site_s",
    "valued_travel_m",
    "shift_s",
]
FLOATS = ["fast_response_s", "other_response_s", "resolution_s"]


def _row() -> sa.Column[Any]:
    return sa.Column("row", BIG, sa.Identity(always=False), nullable=False)


def _day_columns(*, technician: bool) -> list[sa.Column[Any]]:
    return [
        sa.Column("territory_id", GUID, nullable=False),
        sa.Column("service_type_id", GUID, nullable=True),
        *([sa.Column("technician_id", GUID, nullable=True)] if technician else []),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
    ]


def _tallies() -> list[sa.Column[Any]]:
    return [
        *(sa.Column(name, sa.Integer(), nullable=False) for name in INTEGERS),
        *(sa.Column(name, BIG, nullable=False) for name in BIG_INTEGERS),
        *(sa.Column(name, sa.Float(), nullable=False) for name in FLOATS),
    ]


def upgrade() -> None:
    for table, technician in (("kpi_days", False), ("kpi_technician_days", True)):
        op.create_table(
            table,
            _row(),
            *_day_columns(technician=technician),
            *_tallies(),
            sa.PrimaryKeyConstraint("row", name=op.f(f"pk_{table}")),
        )
        op.create_index(f"ix_{table}_territory_day", table, ["territory_id", "day"], unique=False)
    op.create_index(
        "ix_kpi_technician_days_technician_day", "kpi_technician_days", ["technician_id", "day"], unique=False
    )
    op.create_table(
        "kpi_response_times",
        _row(),
        *_day_columns(technician=True),
        sa.Column("fast", sa.Boolean(), nullable=False),
        sa.Column("response_s", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("row", name=op.f("pk_kpi_response_times")),
    )
    op.create_index(
        "ix_kpi_response_times_territory_day", "kpi_response_times", ["territory_id", "day"], unique=False
    )
    op.create_table(
        "kpi_stale",
        _row(),
        sa.Column("territory_id", GUID, nullable=True),
        sa.Column("since", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("row", name=op.f("pk_kpi_stale")),
    )
    op.create_table(
        "kpi_store",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("filled_until", sa.Date(), nullable=False),
        sa.Column("first_fix_window_days", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kpi_store")),
    )


def downgrade() -> None:
    for table in ("kpi_store", "kpi_stale", "kpi_response_times", "kpi_technician_days", "kpi_days"):
        op.drop_table(table)  # their indexes go with them
