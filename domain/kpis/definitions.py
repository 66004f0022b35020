"""The KPIs fieldwork measures: what each one is, its unit, which way is better, and its default target.

Shares are fractions (0.95, not 95); durations are seconds; money is cents. The exact rule behind each figure is in
docs/kpis.md, and tests/domain/test_kpis.py checks each one against a hand-computed answer."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Unit(StrEnum):
    SHARE = "share"
    SECONDS = "seconds"
    SCORE = "score"


class Better(StrEnum):
    HIGHER = "higher"
    LOWER = "lower"


@dataclass(frozen=True, slots=True)
class Definition:
    key: str
    label: str
    unit: Unit
    better: Better
    target: float
    description: str

    def meets(self, value: float, target: float) -> bool:
        return value >= target if self.better is Better.HIGHER else value <= target


HOUR = 3600
DAY = 24 * HOUR

DEFINITIONS: tuple[Definition, ...] = (
    Definition(
        "satisfaction",
        "Satisfied customers",
        Unit.SHARE,
        Better.HIGHER,
        0.95,
        "Share of ratings given in the period that are 4 or 5 out of 5.",
    ),
    Definition(
        "satisfaction_mean",
        "Mean rating",
        Unit.SCORE,
        Better.HIGHER,
        4.5,
        "Mean of the ratings (1 to 5) given in the period.",
    ),
    Definition(
        "response_phone_chat",
        "Response time, phone and chat",
        Unit.SECONDS,
        Better.LOWER,
        5 * 60,
        "Mean time from a phone or chat request to its first response (an appointment offered or the job "
        "scheduled), for requests received in the period; the 90th percentile alongside.",
    ),
    Definition(
        "response_other",
        "Response time, e-mail, web and app",
        Unit.SECONDS,
        Better.LOWER,
        4 * HOUR,
        "The same for requests that came by e-mail, the web form or the app.",
    ),
    Definition(
        "sla_compliance",
        "SLA compliance",
        Unit.SHARE,
        Better.HIGHER,
        0.95,
        "Share of the respond-by and resolve-by deadlines falling in the period that were met (a deadline "
        "counts once it is met or has passed; cancelled jobs do not count).",
    ),
    Definition(
        "first_time_fix",
        "First-time fix (service success)",
        Unit.SHARE,
        Better.HIGHER,
        0.98,
        "Share of first visits completed in the period as fixed, with no follow-up, rework or reopening within "
        "the first-fix window.",
    ),
    Definition(
        "on_time_arrival",
        "On-time arrival",
        Unit.SHARE,
        Better.HIGHER,
        0.90,
        "Share of arrivals in the period inside the window confirmed to the customer.",
    ),
    Definition(
        "utilization",
        "Technician utilization",
        Unit.SHARE,
        Better.HIGHER,
        0.65,
        "Time on site over shift time (breaks excluded), each counted on the local day it started.",
    ),
    Definition(
        "travel_per_job",
        "Travel per job",
        Unit.SECONDS,
        Better.LOWER,
        30 * 60,
        "Mean travel time to the visits completed in the period; the distance alongside.",
    ),
    Definition(
        "complaint_rate",
        "Complaint rate",
        Unit.SHARE,
        Better.LOWER,
        0.02,
        "Complaints received in the period over the visits completed in it.",
    ),
    Definition(
        "complaint_resolution",
        "Complaint resolution time",
        Unit.SECONDS,
        Better.LOWER,
        3 * DAY,
        "Mean time from receiving a complaint to resolving it, for complaints resolved in the period.",
    ),
    Definition(
        "reopen_rate",
        "Reopen rate",
        Unit.SHARE,
        Better.LOWER,
        0.02,
        "Share of jobs first completed in the period that were reopened afterwards.",
    ),
    Definition(
        "cost_ratio",
        "Service cost / value",
        Unit.SHARE,
        Better.LOWER,
        0.10,
        "Labour (time on site x labour rate) plus travel (distance x travel rate) of the visits completed in the "
        "period, over the value of those jobs, where a value is known; the cost per visit alongside.",
    ),
)

BY_KEY = {d.key: d for d in DEFINITIONS}


def targets(chosen: dict[str, float]) -> dict[str, float]:
    """Each KPI's target: the organisation's choice where it made one, else the default."""
    return {d.key: float(chosen.get(d.key, d.target)) for d in DEFINITIONS}
