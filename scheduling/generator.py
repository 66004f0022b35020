"""Field-service instances of any size from a seed, as described in docs/scheduling.md.

A city of 50 x 50 km (metres, Euclidean, 1.3 metres of road per metre, 30 km/h), technicians who start and end
at home with shifts of 8 hours and a 30-minute lunch break between 12:00 and 14:00, jobs of 30 to 90 minutes that
need one of five skills inside an appointment window of 2 hours. Technicians hold one to three skills. There are
slightly fewer technicians than a full day of work needs, so a good plan leaves only the least important jobs out.
Times are seconds from midnight.
"""

from __future__ import annotations

import math
import random

from scheduling.problem import Break, Job, Location, Problem, Shift, SkillNeed, Technician, Weights, Window

CITY_METRES = 50_000
SKILLS = ("boiler", "electrical", "plumbing", "heat-pump", "air-conditioning")
HOUR = 3600
# A technician does about six jobs a day here; one fewer technician than that needs keeps the day over-full.
JOBS_PER_TECHNICIAN = 6.5
ROAD_FACTOR = 1.3
SPEED = 30_000 / HOUR  # metres per second


def field_service_problem(
    jobs: int,
    *,
    seed: int = 0,
    technicians: int | None = None,
    city_metres: int = CITY_METRES,
    service_minutes: tuple[int, int] = (30, 90),
) -> Problem:
    """An instance with `jobs` jobs; the defaults are the documented field-service benchmark, the keywords let a
    benchmark ask for a denser day (a smaller city, shorter jobs)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    n_technicians = technicians or max(1, math.ceil(jobs / JOBS_PER_TECHNICIAN))
    locations: list[Location] = []

    def place() -> int:
        locations.append(Location(x=rng.uniform(0, city_metres), y=rng.uniform(0, city_metres)))
        return len(locations) - 1

    crew = []
    for t in range(n_technicians):
        home = place()
        start = rng.choice((7, 8, 8, 9)) * HOUR
        held = rng.sample(SKILLS, rng.randint(1, 3))
        crew.append(
            Technician(
                id=f"tech-{t + 1}",
                skills={skill: rng.randint(1, 3) for skill in held},
                shifts=(
                    Shift(
                        id=f"tech-{t + 1}/day",
                        start=start,
                        end=start + 8 * HOUR,
                        start_location=home,
                        end_location=home,
                        breaks=(Break(earliest_start=12 * HOUR, latest_end=14 * HOUR, duration=HOUR // 2),),
                    ),
                ),
            )
        )
    work = []
    for k in range(jobs):
        opens = rng.randrange(8 * HOUR, 15 * HOUR + 1, HOUR // 2)
        work.append(
            Job(
                id=f"job-{k + 1}",
                location=place(),
                duration=rng.randrange(service_minutes[0], service_minutes[1] + 1, 15) * 60,
                windows=(Window(start=opens, end=opens + 2 * HOUR),),
                skills=(SkillNeed(skill=rng.choice(SKILLS), level=rng.choice((1, 1, 2))),),
                priority=rng.choices((0, 1, 2, 3), weights=(2, 5, 2, 1))[0],
            )
        )
    return Problem(
        locations=tuple(locations),
        technicians=tuple(crew),
        jobs=tuple(work),
        metric="euclidean",
        time_per_distance=ROAD_FACTOR / SPEED,
        weights=Weights(travel_time=1),
    )
