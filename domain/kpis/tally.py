"""The counts and sums each KPI is a ratio of. They add up, so a week, a territory or the whole period is the sum
of the rows the queries return; only the 90th percentile of response times does not, and is queried on its own."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

from domain.kpis.definitions import DEFINITIONS


@dataclass(slots=True)
class Tally:
    ratings: int = 0
    good_ratings: int = 0
    score_sum: int = 0
    fast_responses: int = 0
    fast_response_s: float = 0.0
    other_responses: int = 0
    other_response_s: float = 0.0
    deadlines: int = 0
    deadlines_met: int = 0
    jobs_completed: int = 0
    reopened: int = 0
    first_visits: int = 0
    first_visits_fixed: int = 0
    value_cents: int = 0
    visits: int = 0
    on_site_s: int = 0
    travel_s: int = 0
    travelled: int = 0
    travel_m: int = 0
    distanced: int = 0
    valued_on_site_s: int = 0
    valued_travel_m: int = 0
    arrivals: int = 0
    on_time: int = 0
    complaints: int = 0
    complaints_resolved: int = 0
    resolution_s: float = 0.0
    shift_s: int = 0

    def add(self, other: Tally) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    @classmethod
    def total(cls, tallies: Iterable[Tally]) -> Tally:
        result = cls()
        for t in tallies:
            result.add(t)
        return result


@dataclass(frozen=True, slots=True)
class Rates:
    labour_cents_per_hour: int
    travel_cents_per_km: int

    def cost_cents(self, on_site_s: float, travel_m: float) -> float:
        return on_site_s / 3600 * self.labour_cents_per_hour + travel_m / 1000 * self.travel_cents_per_km


@dataclass(frozen=True, slots=True)
class Figure:
    """One KPI's value (None when nothing was measured), how many observations it rests on, and the companion
    figures shown beside it (the 90th percentile, the distance, the cost per visit)."""

    value: float | None
    sample: int
    detail: dict[str, float | None]


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def figures(t: Tally, rates: Rates, p90: dict[str, float | None] | None = None) -> dict[str, Figure]:
    """Every KPI of one tally. `p90` holds the response-time percentiles by channel group when known."""
    p90 = p90 or {}
    cost = rates.cost_cents(t.on_site_s, t.travel_m)
    valued_cost = rates.cost_cents(t.valued_on_site_s, t.valued_travel_m)
    result = {
        "satisfaction": Figure(_ratio(t.good_ratings, t.ratings), t.ratings, {}),
        "satisfaction_mean": Figure(_ratio(t.score_sum, t.ratings), t.ratings, {}),
        "response_phone_chat": Figure(
            _ratio(t.fast_response_s, t.fast_responses), t.fast_responses, {"p90_s": p90.get("fast")}
        ),
        "response_other": Figure(
            _ratio(t.other_response_s, t.other_responses), t.other_responses, {"p90_s": p90.get("other")}
        ),
        "sla_compliance": Figure(_ratio(t.deadlines_met, t.deadlines), t.deadlines, {}),
        "first_time_fix": Figure(_ratio(t.first_visits_fixed, t.first_visits), t.first_visits, {}),
        "on_time_arrival": Figure(_ratio(t.on_time, t.arrivals), t.arrivals, {}),
        "utilization": Figure(_ratio(t.on_site_s, t.shift_s), t.visits, {"on_site_s": t.on_site_s}),
        "travel_per_job": Figure(
            _ratio(t.travel_s, t.travelled), t.travelled, {"metres_per_job": _ratio(t.travel_m, t.distanced)}
        ),
        "complaint_rate": Figure(_ratio(t.complaints, t.visits), t.visits, {"complaints": t.complaints}),
        "complaint_resolution": Figure(
            _ratio(t.resolution_s, t.complaints_resolved), t.complaints_resolved, {}
        ),
        "reopen_rate": Figure(_ratio(t.reopened, t.jobs_completed), t.jobs_completed, {}),
        "cost_ratio": Figure(
            _ratio(valued_cost, t.value_cents),
            t.visits,
            {"cost_per_job_cents": _ratio(cost, t.visits), "value_cents": t.value_cents},
        ),
    }
    assert result.keys() == {d.key for d in DEFINITIONS}
    return result
