"""Reading a Solomon VRPTW instance into a Problem: one technician with one shift per vehicle, Euclidean travel.

Times and coordinates are scaled by SCALE so that integer arithmetic loses at most 0.005 of a unit per arc.
"""

from __future__ import annotations

from pathlib import Path

from scheduling.problem import Job, Location, Problem, Shift, Technician, Weights, Window

SCALE = 100


def parse_solomon(text: str) -> Problem:
    lines = [line.split() for line in text.splitlines() if line.strip()]
    vehicles, capacity = next(
        (int(a), int(b))
        for a, b, *rest in (ln for ln in lines if len(ln) == 2)
        if a.isdigit() and b.isdigit()
    )
    rows = [[int(float(x)) for x in ln] for ln in lines if len(ln) == 7 and ln[0].isdigit()]
    locations = tuple(Location(x=r[1] * SCALE, y=r[2] * SCALE) for r in rows)
    depot = rows[0]
    shifts_end = depot[5] * SCALE
    technicians = tuple(
        Technician(
            id=f"vehicle-{k + 1}",
            shifts=(
                Shift(
                    id=f"vehicle-{k + 1}",
                    start=depot[4] * SCALE,
                    end=shifts_end,
                    start_location=0,
                    end_location=0,
                    capacity=capacity,
                ),
            ),
        )
        for k in range(vehicles)
    )
    jobs = tuple(
        Job(
            id=str(r[0]),
            location=i,
            duration=r[6] * SCALE,
            demand=r[3],
            windows=(Window(start=r[4] * SCALE, end=r[5] * SCALE),),
        )
        for i, r in enumerate(rows)
        if i > 0
    )
    return Problem(
        locations=locations,
        technicians=technicians,
        jobs=jobs,
        metric="euclidean",
        weights=Weights(travel_time=0, distance=1),
    )


def load_solomon(path: Path) -> Problem:
    return parse_solomon(path.read_text())
