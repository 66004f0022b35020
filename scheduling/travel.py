"""Travel distances and times between locations, computed once per problem as integer matrices."""

from __future__ import annotations

import math
from dataclasses import dataclass

from geopy.distance import great_circle

from scheduling.problem import Problem


@dataclass(frozen=True, slots=True)
class TravelMatrix:
    """`distance[i][j]` and `time[i][j]` between locations, rounded to integers (times on the problem's clock)."""

    distance: list[list[int]]
    time: list[list[int]]
    # Unrounded distances, for reporting totals exactly (the classic benchmarks compare floats).
    exact: list[list[float]]


def build_matrix(problem: Problem) -> TravelMatrix:
    locations = problem.locations
    exact: list[list[float]] = []
    for a in locations:
        row = []
        for b in locations:
            if problem.metric == "euclidean":
                row.append(math.hypot(a.x - b.x, a.y - b.y))
            else:
                row.append(great_circle((a.x, a.y), (b.x, b.y)).meters * problem.road_factor)
        exact.append(row)
    distance = [[round(d) for d in row] for row in exact]
    per_unit = problem.time_per_distance if problem.metric == "euclidean" else 1.0 / problem.speed
    time = [[round(d * per_unit) for d in row] for row in exact]
    return TravelMatrix(distance=distance, time=time, exact=exact)
