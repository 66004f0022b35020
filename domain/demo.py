"""Demo data that looks like a real operation: one city (Lyon), three territories, about 25 technicians,
60 customers and 150 open jobs over today and tomorrow, some already assigned, and six weeks of finished work
before today (domain.demo_history) for the KPIs.

Deterministic for a given day: the same seed builds the same operation.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain import demo_history, job_status
from domain import models as m
from domain.classification import DEFAULT_SLA, deadlines
from domain.enums import Channel, JobStatus, Priority, Role
from domain.passwords import hash_password

DEMO_PASSWORD = "fieldwork-demo"
TIMEZONE = "Europe/Paris"


@dataclass(frozen=True)
class _Area:
    code: str
    name: str
    center: tuple[float, float]
    streets: tuple[tuple[str, float, float], ...]
    postcode: str


AREAS = (
    _Area(
        "lyon-north",
        "Lyon North (Croix-Rousse, Caluire, Vaise)",
        (45.7800, 4.8260),
        (
            ("Boulevard de la Croix-Rousse", 45.7745, 4.8290),
            ("Rue d'Austerlitz", 45.7760, 4.8320),
            ("Grande Rue de la Croix-Rousse", 45.7790, 4.8275),
            ("Rue Hénon", 45.7790, 4.8230),
            ("Rue de Cuire", 45.7830, 4.8310),
            ("Montée de la Boucle", 45.7850, 4.8410),
            ("Avenue Général Leclerc, Caluire", 45.7930, 4.8460),
            ("Rue de Bourgogne", 45.7740, 4.8040),
            ("Grande Rue de Vaise", 45.7770, 4.8060),
            ("Quai Paul Sédallian", 45.7710, 4.8150),
            ("Rue Marietton", 45.7690, 4.8010),
            ("Rue Philippe de Lassalle", 45.7820, 4.8200),
        ),
        "69004",
    ),
    _Area(
        "lyon-centre",
        "Lyon Centre (Presqu'île, Part-Dieu, Brotteaux)",
        (45.7610, 4.8500),
        (
            ("Rue de la République", 45.7625, 4.8360),
            ("Rue Victor Hugo", 45.7540, 4.8300),
            ("Rue Mercière", 45.7615, 4.8330),
            ("Cours Lafayette", 45.7635, 4.8560),
            ("Rue Garibaldi", 45.7610, 4.8520),
            ("Boulevard des Belges", 45.7710, 4.8510),
            ("Rue Vendôme", 45.7620, 4.8470),
            ("Cours Vitton", 45.7700, 4.8600),
            ("Rue Servient", 45.7605, 4.8520),
            ("Avenue de Saxe", 45.7580, 4.8430),
            ("Rue Paul Bert", 45.7580, 4.8600),
            ("Rue Juliette Récamier", 45.7690, 4.8480),
        ),
        "69003",
    ),
    _Area(
        "lyon-south",
        "Lyon South (Gerland, Guillotière, Monplaisir)",
        (45.7350, 4.8450),
        (
            ("Avenue Jean Jaurès", 45.7390, 4.8390),
            ("Rue de Gerland", 45.7290, 4.8360),
            ("Avenue Tony Garnier", 45.7310, 4.8260),
            ("Grande Rue de la Guillotière", 45.7510, 4.8470),
            ("Rue Marcel Mérieux", 45.7280, 4.8380),
            ("Avenue des Frères Lumière", 45.7430, 4.8700),
            ("Rue Paul Cazeneuve", 45.7350, 4.8640),
            ("Route de Vienne", 45.7300, 4.8520),
            ("Avenue Berthelot", 45.7450, 4.8500),
            ("Rue Pré-Gaudry", 45.7360, 4.8350),
            ("Boulevard des États-Unis", 45.7320, 4.8620),
            ("Rue de Surville", 45.7330, 4.8440),
        ),
        "69007",
    ),
)

# The offline geocoder's places: every demo street, so intake by address works out of the box.
GAZETTEER: dict[str, tuple[float, float]] = {
    street: (lat, lon) for area in AREAS for street, lat, lon in area.streets
}

SKILLS = (
    ("electrical", "Electrical"),
    ("plumbing", "Plumbing"),
    ("hvac", "Heating, ventilation and air conditioning"),
    ("gas", "Gas safety"),
    ("appliance", "Domestic appliances"),
    ("locksmith", "Locks and access"),
)

# code, name, minutes, priority, skills, checklist, parts, tools, keywords
SERVICE_TYPES: tuple[
    tuple[str, str, int, Priority, dict[str, int], list[str], list[str], list[str], list[str]], ...
] = (
    (
        "boiler-service",
        "Annual boiler service",
        60,
        Priority.LOW,
        {"gas": 2, "hvac": 1},
        ["Flue gas analysis recorded", "Pressure checked", "Safety devices tested"],
        ["Boiler seal kit"],
        ["Flue gas analyser", "Manometer"],
        ["service", "annual", "maintenance", "boiler"],
    ),
    (
        "boiler-repair",
        "Boiler breakdown",
        90,
        Priority.HIGH,
        {"gas": 3, "hvac": 2},
        ["Fault code noted", "Repair tested", "Gas tightness verified"],
        ["Ignition electrode", "Pressure sensor"],
        ["Multimeter", "Gas leak detector"],
        ["boiler", "no heating", "no hot water", "pilot", "fault code", "radiator cold"],
    ),
    (
        "ac-repair",
        "Air conditioning repair",
        90,
        Priority.NORMAL,
        {"hvac": 2},
        ["Refrigerant pressure measured", "Filters cleaned", "Cooling verified"],
        ["R32 refrigerant", "Capacitor"],
        ["Manifold gauges", "Leak detector"],
        ["air conditioning", "ac", "cooling", "heat pump", "aircon"],
    ),
    (
        "electrical-fault",
        "Electrical fault",
        60,
        Priority.HIGH,
        {"electrical": 2},
        ["Circuit isolated", "Insulation tested", "Installation re-energised safely"],
        ["Circuit breaker 16A", "RCD 30mA"],
        ["Insulation tester", "Voltage tester"],
        ["power", "outage", "breaker", "tripping", "sparks", "socket", "electric", "fuse"],
    ),
    (
        "ev-charger",
        "EV charger installation",
        180,
        Priority.LOW,
        {"electrical": 3},
        ["Load calculation done", "Earthing verified", "Charger commissioned"],
        ["Wallbox 7kW", "Cable 6mm2"],
        ["Drill", "Earth loop tester"],
        ["charger", "ev", "electric car", "wallbox"],
    ),
    (
        "leak-repair",
        "Water leak",
        60,
        Priority.URGENT,
        {"plumbing": 2},
        ["Water isolated", "Leak source found", "Repair pressure-tested"],
        ["Compression fittings", "PTFE tape"],
        ["Pipe cutter", "Moisture meter"],
        ["leak", "leaking", "water", "flood", "burst", "drip", "pipe"],
    ),
    (
        "drain-unblock",
        "Blocked drain",
        45,
        Priority.NORMAL,
        {"plumbing": 1},
        ["Blockage cleared", "Flow tested"],
        [],
        ["Drain rods", "Plunger"],
        ["blocked", "drain", "clogged", "toilet", "sink"],
    ),
    (
        "appliance-repair",
        "Appliance repair",
        60,
        Priority.NORMAL,
        {"appliance": 2},
        ["Model and serial noted", "Fault diagnosed", "Appliance tested"],
        ["Door seal", "Drain pump"],
        ["Multimeter"],
        ["washing machine", "dishwasher", "oven", "fridge", "appliance", "dryer"],
    ),
    (
        "lock-change",
        "Lock change",
        45,
        Priority.HIGH,
        {"locksmith": 2},
        ["Old lock removed", "Keys handed over"],
        ["Euro cylinder"],
        ["Lock pick set"],
        ["lock", "locked out", "key", "door"],
    ),
)

# What each service is charged, in cents (euros): a job's value, the denominator of the KPIs' cost ratio.
PRICES = {
    "boiler-service": 13_000,
    "boiler-repair": 24_000,
    "ac-repair": 22_000,
    "electrical-fault": 15_000,
    "ev-charger": 140_000,
    "leak-repair": 18_000,
    "drain-unblock": 12_000,
    "appliance-repair": 14_000,
    "lock-change": 16_000,
}

FIRST_NAMES = (
    "Camille",
    "Lucas",
    "Léa",
    "Hugo",
    "Chloé",
    "Louis",
    "Emma",
    "Gabriel",
    "Inès",
    "Jules",
    "Manon",
    "Arthur",
    "Sarah",
    "Nathan",
    "Jade",
    "Paul",
    "Zoé",
    "Adam",
    "Lina",
    "Tom",
    "Alice",
    "Théo",
    "Rose",
    "Noah",
    "Anna",
    "Ethan",
    "Eva",
    "Sacha",
    "Julia",
    "Malo",
)
LAST_NAMES = (
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefebvre",
    "Michel",
    "Garcia",
    "David",
    "Bertrand",
    "Roux",
    "Vincent",
    "Fournier",
    "Morel",
    "Girard",
    "André",
    "Mercier",
    "Blanc",
    "Guerin",
    "Boyer",
    "Garnier",
    "Chevalier",
    "Faure",
)
PROBLEMS = {
    "boiler-service": ["Annual boiler maintenance due", "Boiler service before winter"],
    "boiler-repair": [
        "Boiler shows fault code E119, no heating",
        "No hot water since this morning, pilot out",
    ],
    "ac-repair": ["Air conditioning blows warm air", "Heat pump not cooling the living room"],
    "electrical-fault": ["Breaker keeps tripping in the kitchen", "Socket sparks when plugging in"],
    "ev-charger": ["Install a wallbox for a new electric car", "EV charger installation in garage"],
    "leak-repair": ["Water leaking under the sink", "Burst pipe in the bathroom, water on the floor"],
    "drain-unblock": ["Kitchen sink drain blocked", "Toilet clogged"],
    "appliance-repair": ["Washing machine does not drain", "Dishwasher stops mid-cycle"],
    "lock-change": ["Lost keys, need the front door lock changed", "Door lock jammed"],
}
UNTRIAGED = [
    "Strange noise and smell in the basement",
    "Something wrong with the heating and a leak",
    "Customer unsure, asks for a technician to look",
    "Water on the floor near the boiler",
]


def _part_time(technician_index: int) -> bool:
    """Every seventh technician works 10:00 to 16:00, without a break."""
    return technician_index % 7 == 6


def _local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(TIMEZONE)).astimezone(
        dt.UTC
    )


async def is_empty(session: AsyncSession) -> bool:
    return not await session.scalar(sa.select(sa.func.count()).select_from(m.User))


async def seed(session: AsyncSession, *, today: dt.date | None = None, rng_seed: int = 7) -> dict[str, int]:
    """Fill an empty database with the demo operation. Returns how many of each thing it made."""
    rng = random.Random(rng_seed)
    today = today or dt.datetime.now(ZoneInfo(TIMEZONE)).date()
    days = (today, today + dt.timedelta(days=1))
    password_hash = hash_password(DEMO_PASSWORD)

    territories = [
        m.Territory(
            id=uuid.uuid4(),
            code=a.code,
            name=a.name,
            timezone=TIMEZONE,
            center_latitude=a.center[0],
            center_longitude=a.center[1],
        )
        for a in AREAS
    ]
    session.add_all(territories)
    skills = {code: m.Skill(id=uuid.uuid4(), code=code, name=name) for code, name in SKILLS}
    session.add_all(skills.values())
    types = {}
    for code, name, minutes, priority, needs, checklist, parts, tools, keywords in SERVICE_TYPES:
        types[code] = m.ServiceType(
            id=uuid.uuid4(),
            code=code,
            name=name,
            default_duration_s=minutes * 60,
            default_priority=priority,
            checklist=checklist,
            parts=parts,
            tools=tools,
            keywords=keywords,
            price_cents=PRICES.get(code),
            skills=[m.ServiceTypeSkill(skill_id=skills[s].id, min_level=lvl) for s, lvl in needs.items()],
        )
    session.add_all(types.values())
    session.add_all(
        m.SlaPolicy(priority=p, respond_within_s=t.respond_within_s, resolve_within_s=t.resolve_within_s)
        for p, t in DEFAULT_SLA.items()
    )
    # The unit of work orders inserts by relationships, and most references here are plain keys: flush by layer.
    await session.flush()

    # Skill profiles so that every service type has several qualified technicians in every territory.
    profiles = [
        {"gas": 3, "hvac": 3},
        {"electrical": 3},
        {"plumbing": 3, "gas": 2},
        {"hvac": 2, "appliance": 3},
        {"electrical": 2, "locksmith": 3},
        {"plumbing": 2},
        {"gas": 3, "hvac": 2, "plumbing": 1},
        {"electrical": 3, "appliance": 2},
        {"locksmith": 2, "plumbing": 1},
    ]
    technicians: list[m.Technician] = []
    shifts: list[m.Shift] = []
    users: list[m.User] = []
    for i in range(25):
        area_index = i % 3
        area = AREAS[area_index]
        street, lat, lon = area.streets[i % len(area.streets)]
        number = i + 1
        tech = m.Technician(
            id=uuid.uuid4(),
            name=f"{FIRST_NAMES[i]} {LAST_NAMES[-1 - i]}",
            email=f"tech{number:02d}@example.com",
            phone=f"+3361000{number:04d}",
            territory_id=territories[area_index].id,
            home_address=f"{number} {street}, {area.postcode} Lyon",
            home_latitude=lat + rng.uniform(-0.003, 0.003),
            home_longitude=lon + rng.uniform(-0.003, 0.003),
            skills=[
                m.TechnicianSkill(skill_id=skills[s].id, level=lvl)
                for s, lvl in profiles[(i // 3) % 9].items()
            ],
        )
        technicians.append(tech)
        part_time = _part_time(i)
        for day in days:
            start, end = (
                (_local(day, 10), _local(day, 16)) if part_time else (_local(day, 8), _local(day, 17))
            )
            breaks = (
                []
                if part_time
                else [
                    m.ShiftBreak(
                        earliest_start=_local(day, 12), latest_end=_local(day, 14), duration_s=45 * 60
                    )
                ]
            )
            shifts.append(m.Shift(technician_id=tech.id, starts_at=start, ends_at=end, breaks=breaks))
        users.append(
            m.User(
                email=tech.email or "",
                full_name=tech.name,
                password_hash=password_hash,
                role=Role.TECHNICIAN,
                technician_id=tech.id,
            )
        )
    session.add_all(technicians)
    await session.flush()
    session.add_all(shifts)
    users.append(
        m.User(email="admin@example.com", full_name="Ada Admin", password_hash=password_hash, role=Role.ADMIN)
    )
    users.append(
        m.User(
            email="dispatcher@example.com",
            full_name="Dominique Dispatch",
            password_hash=password_hash,
            role=Role.DISPATCHER,
            territories=list(territories),
        )
    )
    for t, area in zip(territories, AREAS, strict=True):
        short = area.code.removeprefix("lyon-")
        users.append(
            m.User(
                email=f"dispatcher-{short}@example.com",
                full_name=f"Dispatcher {short.title()}",
                password_hash=password_hash,
                role=Role.DISPATCHER,
                territories=[t],
            )
        )
    session.add_all(users)

    customers: list[tuple[m.Customer, list[m.Site]]] = []
    for i in range(60):
        area_index = i % 3
        area = AREAS[area_index]
        first, last = FIRST_NAMES[(i * 7) % 30], LAST_NAMES[(i * 11) % 30]
        customer = m.Customer(
            id=uuid.uuid4(),
            name=f"{first} {last}",
            phone=f"+3367{i:07d}",
            email=f"{first}.{last}.{i}@example.net".lower()
            .replace("é", "e")
            .replace("è", "e")
            .replace("ï", "i"),
            consent_to_messages=i % 4 != 0,
        )
        sites = []
        for k in range(1 + (i % 5 == 0)):
            street, lat, lon = area.streets[(i + k * 5) % len(area.streets)]
            sites.append(
                m.Site(
                    id=uuid.uuid4(),
                    customer_id=customer.id,
                    territory_id=territories[area_index].id,
                    address=f"{rng.randint(1, 180)} {street}, {area.postcode} Lyon",
                    latitude=lat + rng.uniform(-0.002, 0.002),
                    longitude=lon + rng.uniform(-0.002, 0.002),
                    access_notes="Code 4512B, 3rd floor" if k == 0 and i % 6 == 0 else None,
                )
            )
        customers.append((customer, sites))
        session.add(customer)
    await session.flush()
    session.add_all(site for _, sites in customers for site in sites)
    await session.flush()

    now = dt.datetime.now(dt.UTC)
    type_list = list(types.values())
    jobs = 0
    assigned = 0
    load: dict[uuid.UUID, int] = {}
    for j in range(150):
        customer, sites = customers[j % 60]
        site = sites[j % len(sites)]
        triaged = j % 15 != 7
        service_type = type_list[(j * 5) % len(type_list)] if triaged else None
        priority = service_type.default_priority if service_type else rng.choice(list(Priority))
        description = rng.choice(PROBLEMS[service_type.code]) if service_type else rng.choice(UNTRIAGED)
        received = now - dt.timedelta(minutes=rng.randint(5, 60 * 30))
        request = m.ServiceRequest(
            id=uuid.uuid4(),
            channel=list(Channel)[j % 5],
            customer_id=customer.id,
            site_id=site.id,
            description=description,
            received_at=received,
        )
        session.add(request)
        await session.flush()
        day = days[j % 2]
        # Not j % 3: that picks the territory too, and each territory would get only mornings or afternoons.
        morning = (j // 3) % 3 != 0
        window = (_local(day, 8), _local(day, 12)) if morning else (_local(day, 13), _local(day, 17))
        due = deadlines(received, DEFAULT_SLA[priority])
        job = m.Job(
            id=uuid.uuid4(),
            service_request_id=request.id,
            customer_id=customer.id,
            site_id=site.id,
            territory_id=site.territory_id,
            service_type_id=service_type.id if service_type else None,
            status=JobStatus.NEW,
            priority=priority,
            description=description,
            duration_s=service_type.default_duration_s if service_type else 3600,
            respond_by=due.respond_by,
            resolve_by=due.resolve_by,
            value_cents=service_type.price_cents if service_type else None,
            checklist=list(service_type.checklist) if service_type else [],
            parts=list(service_type.parts) if service_type else [],
            tools=list(service_type.tools) if service_type else [],
            suggested_service_type_codes=[] if service_type else ["boiler-repair", "leak-repair"],
            required_skills=[
                m.JobRequiredSkill(skill_id=s.skill_id, min_level=s.min_level)
                for s in (service_type.skills if service_type else [])
            ],
            time_windows=[m.JobTimeWindow(starts_at=window[0], ends_at=window[1])],
            assignment=None,
        )
        session.add(job)
        session.add(
            m.JobStatusEvent(
                job_id=job.id,
                from_status=None,
                to_status=JobStatus.NEW,
                reason=f"intake via {request.channel}",
                occurred_at=received,
            )
        )
        jobs += 1
        # Most of today's triaged work is already planned and dispatched, a few jobs already under way.
        if service_type is not None and day == today and j % 5 != 0:
            planned_tech = _least_loaded_qualified(technicians, job, load)
            if planned_tech is not None:
                tech = planned_tech
                load[tech.id] = load.get(tech.id, 0) + 1
                sequence = load[tech.id] - 1
                job.assignment = m.Assignment(
                    job_id=job.id,
                    technician_id=tech.id,
                    sequence=sequence,
                    planned_start=window[0] + dt.timedelta(minutes=40 * sequence),
                )
                path = [JobStatus.SCHEDULED, JobStatus.DISPATCHED]
                if assigned % 8 == 3:
                    path.append(JobStatus.EN_ROUTE)
                for to in path:
                    if job_status.is_legal(job.status, to):
                        session.add(
                            m.JobStatusEvent(
                                job_id=job.id,
                                from_status=job.status,
                                to_status=to,
                                reason="demo plan",
                                occurred_at=received,
                            )
                        )
                        job.status = to
                assigned += 1
    await session.flush()
    counts = {
        "territories": len(territories),
        "technicians": len(technicians),
        "customers": len(customers),
        "jobs": jobs,
        "assigned": assigned,
        "users": len(users),
    }
    world = _world(today, territories, technicians, users, list(types.values()), customers)
    counts.update(await demo_history.seed_history(session, world, rng_seed=rng_seed))
    return counts


def _world(
    today: dt.date,
    territories: list[m.Territory],
    technicians: list[m.Technician],
    users: list[m.User],
    types: list[m.ServiceType],
    customers: list[tuple[m.Customer, list[m.Site]]],
) -> demo_history.World:
    """The seeded operation as the history needs it."""
    index = {t.id: i for i, t in enumerate(territories)}
    user_of = {u.technician_id: u.id for u in users if u.technician_id is not None}
    local = {
        u.territories[0].id: u.id for u in users if u.role is Role.DISPATCHER and len(u.territories) == 1
    }
    return demo_history.World(
        today=today,
        timezone=TIMEZONE,
        territory_ids=tuple(t.id for t in territories),
        territory_codes=tuple(t.code for t in territories),
        dispatcher_ids=tuple(local[t.id] for t in territories),
        technicians=tuple(
            demo_history.Tech(
                id=tech.id,
                user_id=user_of[tech.id],
                territory=index[tech.territory_id],
                home=(tech.home_latitude, tech.home_longitude),
                skills={s.skill_id: s.level for s in tech.skills},
                part_time=_part_time(i),
            )
            for i, tech in enumerate(technicians)
        ),
        kinds=tuple(
            demo_history.Kind(
                id=t.id,
                code=t.code,
                duration_s=t.default_duration_s,
                priority=t.default_priority,
                needs=tuple((s.skill_id, s.min_level) for s in t.skills),
                price_cents=t.price_cents,
                checklist=tuple(t.checklist),
                parts=tuple(t.parts),
                tools=tuple(t.tools),
            )
            for t in types
        ),
        places=tuple(
            demo_history.Place(
                id=site.id,
                customer_id=customer.id,
                territory=index[site.territory_id],
                point=(site.latitude, site.longitude),
            )
            for customer, sites in customers
            for site in sites
        ),
        descriptions=PROBLEMS,
    )


def _least_loaded_qualified(
    technicians: list[m.Technician], job: m.Job, load: dict[uuid.UUID, int]
) -> m.Technician | None:
    qualified = [
        tech
        for tech in technicians
        if tech.territory_id == job.territory_id
        and all(
            {s.skill_id: s.level for s in tech.skills}.get(r.skill_id, 0) >= r.min_level
            for r in job.required_skills
        )
    ]
    return min(qualified, key=lambda t: load.get(t.id, 0), default=None)
