"""Travel estimates away from the optimizer: the customer's ETA, the warnings' predicted arrivals, a completion's
distance. Road distance is longer than the straight line, and a van in town averages about 35 km/h."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from geopy.distance import great_circle
from sqlalchemy.ext.asyncio import AsyncSession

from domain import models as m

DETOUR_FACTOR = 1.3
AVERAGE_SPEED_M_PER_S = 35_000 / 3600
# How far back a completed job still counts as where the technician is: beyond it they went home in between.
SAME_DAY = dt.timedelta(hours=12)

Point = tuple[float, float]


def road_metres(a: Point, b: Point) -> int:
    return round(float(great_circle(a, b).meters) * DETOUR_FACTOR)


def drive_time(a: Point, b: Point) -> dt.timedelta:
    return dt.timedelta(seconds=round(road_metres(a, b) / AVERAGE_SPEED_M_PER_S))


async def last_position(
    session: AsyncSession, technician: m.Technician, job_id: uuid.UUID, departed_at: dt.datetime
) -> Point:
    """Where the technician sets out from for `job_id`: the site of the last other job they completed in the twelve
    hours before, else their home base."""
    previous = await session.scalar(
        sa.select(m.Site)
        .join(m.Job, m.Job.site_id == m.Site.id)
        .join(m.JobCompletion, m.JobCompletion.job_id == m.Job.id)
        .where(
            m.JobCompletion.technician_id == technician.id,
            m.JobCompletion.completed_at >= departed_at - SAME_DAY,
            m.JobCompletion.completed_at <= departed_at,
            m.Job.id != job_id,
        )
        .order_by(m.JobCompletion.completed_at.desc())
        .limit(1)
    )
    if previous is not None:
        return previous.latitude, previous.longitude
    return technician.home_latitude, technician.home_longitude
