"""Travel distances and times between locations, computed once per problem as integer matrices.

The matrices are NumPy arrays (NumPy comes with OR-Tools): at 2,000 jobs a matrix of Python lists costs seconds
to build and hundreds of megabytes, an array a few milliseconds and 8 bytes an entry. Geodesic distances use the
great-circle formula and Earth radius of geopy's `great_circle`, vectorised; a test holds them to geopy's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from geopy.distance import EARTH_RADIUS

from scheduling.problem import Problem

IntMatrix = npt.NDArray[np.int64]
FloatMatrix = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class TravelMatrix:
    """Distance and time between locations, rounded to integers (times on the problem's clock)."""

    distance: IntMatrix
    time: IntMatrix
    # Unrounded distances, for reporting totals exactly (the classic benchmarks compare floats).
    exact: FloatMatrix

    def time_of(self, a: int, b: int) -> int:
        return int(self.time[a, b])

    def distance_of(self, a: int, b: int) -> int:
        return int(self.distance[a, b])

    def exact_of(self, a: int, b: int) -> float:
        return float(self.exact[a, b])


def build_matrix(problem: Problem) -> TravelMatrix:
    xy = np.array([(loc.x, loc.y) for loc in problem.locations], dtype=np.float64).reshape(-1, 2)
    if problem.metric == "euclidean":
        exact = np.hypot(xy[:, 0, None] - xy[None, :, 0], xy[:, 1, None] - xy[None, :, 1])
        per_unit = problem.time_per_distance
    else:
        exact = great_circle_metres(xy) * problem.road_factor
        per_unit = 1.0 / problem.speed
    return TravelMatrix(
        distance=np.rint(exact).astype(np.int64),
        time=np.rint(exact * per_unit).astype(np.int64),
        exact=exact,
    )


def great_circle_metres(lat_lng: FloatMatrix) -> FloatMatrix:
    """Every pairwise great-circle distance between rows of (latitude, longitude) degrees, as geopy computes it."""
    lat, lng = np.radians(lat_lng[:, 0]), np.radians(lat_lng[:, 1])
    sin_lat, cos_lat = np.sin(lat), np.cos(lat)
    delta = lng[None, :] - lng[:, None]
    cos_delta, sin_delta = np.cos(delta), np.sin(delta)
    y = np.sqrt(
        (cos_lat[None, :] * sin_delta) ** 2
        + (cos_lat[:, None] * sin_lat[None, :] - sin_lat[:, None] * cos_lat[None, :] * cos_delta) ** 2
    )
    x = sin_lat[:, None] * sin_lat[None, :] + cos_lat[:, None] * cos_lat[None, :] * cos_delta
    metres: FloatMatrix = np.arctan2(y, x) * EARTH_RADIUS * 1000.0
    return metres
