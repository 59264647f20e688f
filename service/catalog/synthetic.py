"""Deterministic synthetic catalog for load tests: `python -m service seed --synthetic N`.

Rows are generated in Python from a seeded RNG and written with COPY (asyncpg), in
batches, through staging tables so PostGIS builds the points. A million programs take
a few minutes on two cores. Synthetic rows are marked by external_id 'synthetic:...'
on their organizations and can be removed with --synthetic-clear.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import asyncpg

from service.catalog import documents
from service.catalog.enums import (
    Accessibility,
    Category,
    CostPeriod,
    EnrollmentStatus,
    ProgramStatus,
    Season,
)

SYNTHETIC_NAMESPACE = uuid.UUID("5d0e7c2e-4d8b-4b8e-8b7e-1f2a3c4d5e6f")
MAX_PROGRAMS = 1_000_000
PROGRAMS_PER_ORG = 8
BATCH = 20_000
# A region larger than the city: Fairfield and New Haven counties, CT.
REGION = (40.95, 41.55, -73.75, -72.70)  # lat_min, lat_max, lng_min, lng_max

ACTIVITIES = [
    ("Homework Help", "Ayuda con la tarea", "tutoring homework reading math"),
    ("Soccer Club", "Club de fútbol", "soccer sports team fitness"),
    ("Robotics Lab", "Laboratorio de robótica", "robotics stem engineering coding"),
    ("Art Studio", "Estudio de arte", "art painting drawing creativity"),
    ("Swim Lessons", "Clases de natación", "swimming water safety sports"),
    ("Teen Counseling", "Consejería para adolescentes", "counseling therapy mental health"),
    ("College Prep", "Preparación universitaria", "college sat applications fafsa"),
    ("Job Readiness", "Preparación laboral", "jobs resume interview workforce"),
    ("Story Time", "Hora del cuento", "early literacy reading books toddlers"),
    ("Parent Workshop", "Taller para padres", "parenting family support"),
    ("Coding Camp", "Campamento de programación", "coding computers python web"),
    ("Music Ensemble", "Conjunto musical", "music band choir instruments"),
    ("Mentoring Circle", "Círculo de mentoría", "mentoring role models leadership"),
    ("Dance Company", "Compañía de danza", "dance hip hop ballet movement"),
    ("Basketball League", "Liga de baloncesto", "basketball sports team"),
    ("Mindfulness Group", "Grupo de atención plena", "mindfulness stress wellbeing"),
]
PLACES = [
    "Harbor",
    "Riverside",
    "Oak Hill",
    "Maple",
    "Bayview",
    "Cedar",
    "Lakeside",
    "Summit",
    "Greenfield",
    "Westport",
    "Eastside",
    "Northgate",
    "Hillcrest",
    "Elm",
]
ORG_KINDS = [
    "Youth Center",
    "Community Alliance",
    "Learning Hub",
    "Boys & Girls Collective",
    "Family Services",
    "Arts Council",
    "Athletic League",
    "Foundation",
]
LANGS = ["en", "es", "ht", "pt", "pl", "ar", "zh", "fr"]
CATEGORIES = list(Category)
DAY_SETS = [
    ["MO", "WE"],
    ["TU", "TH"],
    ["MO", "TU", "WE", "TH", "FR"],
    ["SA"],
    ["FR"],
    ["MO", "TU", "WE", "TH"],
    ["SU"],
]


@dataclass
class SyntheticSummary:
    organizations: int
    locations: int
    programs: int


def _uid(kind: str, n: int, seed: int) -> uuid.UUID:
    return uuid.uuid5(SYNTHETIC_NAMESPACE, f"{seed}:{kind}:{n}")


def _rows(n_programs: int, seed: int) -> Iterator[dict[str, list[tuple[Any, ...]]]]:
    """Batches of rows per table, deterministic for (n_programs, seed)."""
    rng = random.Random(seed)
    now = datetime(2026, 9, 1, tzinfo=UTC)
    n_orgs = max(1, -(-n_programs // PROGRAMS_PER_ORG))
    batch: dict[str, list[tuple[Any, ...]]] = {
        k: []
        for k in (
            "organizations",
            "locations",
            "programs",
            "program_locations",
            "cost_options",
            "schedules",
        )
    }
    program_no = 0
    for org_no in range(n_orgs):
        org_id = _uid("org", org_no, seed)
        place = rng.choice(PLACES)
        batch["organizations"].append(
            (
                org_id,
                "provider",
                f"{place} {rng.choice(ORG_KINDS)} {org_no}",
                f"A community organization serving young people in the {place} area.",
                True,
                f"synthetic:{seed}:{org_no}",
                now,
                now,
                1,
            )
        )
        locs = []
        for loc_no in range(rng.choice((1, 1, 1, 2, 3))):
            loc_id = _uid("loc", org_no * 4 + loc_no, seed)
            locs.append(loc_id)
            batch["locations"].append(
                (
                    loc_id,
                    org_id,
                    f"{place} site {loc_no + 1}",
                    f"{rng.randint(1, 999)} Main St",
                    "Norwalk",
                    "CT",
                    f"06{rng.randint(800, 899)}",
                    rng.uniform(REGION[0], REGION[1]),
                    rng.uniform(REGION[2], REGION[3]),
                )
            )
        for _ in range(PROGRAMS_PER_ORG):
            if program_no >= n_programs:
                break
            batch_programs(batch, rng, seed, program_no, org_id, locs, place, now)
            program_no += 1
        if len(batch["programs"]) >= BATCH:
            yield batch
            batch = {k: [] for k in batch}
    if batch["programs"] or batch["organizations"]:
        yield batch


def batch_programs(
    batch: dict[str, list[tuple[Any, ...]]],
    rng: random.Random,
    seed: int,
    n: int,
    org_id: uuid.UUID,
    locs: list[uuid.UUID],
    place: str,
    now: datetime,
) -> None:
    pid = _uid("program", n, seed)
    title, title_es, words = rng.choice(ACTIVITIES)
    category = CATEGORIES[n % len(CATEGORIES)]
    min_age = rng.choice([0, 3, 5, 6, 8, 10, 12, 14, 16])
    max_age = min(24, min_age + rng.choice([2, 3, 4, 6, 8]))
    min_grade = max(-1, min(12, min_age - 5))
    max_grade = max(min_grade, min(12, max_age - 5))
    languages = ["en", *rng.sample(LANGS[1:], rng.choice((0, 1, 1, 2)))]
    season = rng.choice(list(Season)[:3])
    status = ProgramStatus.active if rng.random() < 0.95 else ProgramStatus.inactive
    access = rng.sample([a.value for a in Accessibility], rng.choice((0, 1, 2)))
    verified = now - timedelta(days=rng.randint(0, 500))
    translations = json.dumps(
        {
            "es": {
                "name": f"{title_es} de {place}",
                "description": f"Programa de {title_es.lower()}.",
            }
        }
    )
    batch["programs"].append(
        (
            pid,
            org_id,
            f"{place} {title} {n}",
            f"{title} for young people in {place}: {words}.",
            category.value,
            min_age,
            max_age,
            min_grade,
            max_grade,
            languages,
            season.value,
            rng.choice(list(EnrollmentStatus)).value,
            rng.randint(0, 40),
            rng.random() < 0.2,
            access,
            rng.random() < 0.85,
            status.value,
            translations,
            verified,
            now,
            now,
            1,
        )
    )
    for loc in rng.sample(locs, rng.randint(1, len(locs))):
        batch["program_locations"].append((pid, loc))
    if rng.random() < 0.5:
        batch["cost_options"].append(
            (_uid("cost", n, seed), pid, 0, True, None, None, None, False, False)
        )
    else:
        period = rng.choice([CostPeriod.week, CostPeriod.month, CostPeriod.session])
        batch["cost_options"].append(
            (
                _uid("cost", n, seed),
                pid,
                0,
                False,
                float(rng.choice([5, 10, 25, 40, 75, 120, 200])),
                "USD",
                period.value,
                rng.random() < 0.3,
                rng.random() < 0.4,
            )
        )
    opens = rng.choice([time(9), time(15), time(15, 30), time(16), time(18)])
    closes = time(min(opens.hour + rng.choice((1, 2, 3)), 23), opens.minute)
    batch["schedules"].append(
        (
            _uid("schedule", n, seed),
            pid,
            0,
            "WEEKLY",
            1,
            rng.choice(DAY_SETS),
            opens,
            closes,
            date(2026, 9, 1),
            date(2027, 8, 31),
        )
    )


COLUMNS = {
    "organizations": (
        "id",
        "type",
        "name",
        "description",
        "verified",
        "external_id",
        "created_at",
        "updated_at",
        "version",
    ),
    "programs": (
        "id",
        "organization_id",
        "name",
        "description",
        "category",
        "min_age",
        "max_age",
        "min_grade",
        "max_grade",
        "languages",
        "season",
        "enrollment_status",
        "seats_available",
        "transportation_provided",
        "accessibility",
        "accepting_referrals",
        "status",
        "translations",
        "last_verified_at",
        "created_at",
        "updated_at",
        "version",
    ),
    "program_locations": ("program_id", "location_id"),
    "cost_options": (
        "id",
        "program_id",
        "position",
        "free",
        "amount",
        "currency",
        "period",
        "sliding_scale",
        "scholarships",
    ),
    "schedules": (
        "id",
        "program_id",
        "position",
        "freq",
        "interval",
        "byday",
        "opens_at",
        "closes_at",
        "valid_from",
        "valid_to",
    ),
}


async def generate(conn: asyncpg.Connection, n_programs: int, seed: int = 42) -> SyntheticSummary:
    """Insert n_programs synthetic programs (with organizations and locations)."""
    if not 1 <= n_programs <= MAX_PROGRAMS:
        raise ValueError(f"--synthetic takes 1..{MAX_PROGRAMS:,} programs")
    await conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS synthetic_locations (id uuid, organization_id uuid, "
        "name text, address_1 text, city text, state text, postal_code text, "
        "lat float8, lng float8) ON COMMIT DROP"
    )
    counts = SyntheticSummary(0, 0, 0)
    await documents.defer(conn)  # one statement at the end, not a document per row
    for batch in _rows(n_programs, seed):
        await conn.copy_records_to_table(
            "organizations", records=batch["organizations"], columns=COLUMNS["organizations"]
        )
        await conn.execute("TRUNCATE synthetic_locations")
        await conn.copy_records_to_table("synthetic_locations", records=batch["locations"])
        await conn.execute(
            "INSERT INTO locations (id, organization_id, name, address_1, city, state, "
            "postal_code, point) SELECT id, organization_id, name, address_1, city, state, "
            "postal_code, ST_SetSRID(ST_MakePoint(lng, lat), 4326)::geography "
            "FROM synthetic_locations"
        )
        for table in ("programs", "program_locations", "cost_options", "schedules"):
            await conn.copy_records_to_table(table, records=batch[table], columns=COLUMNS[table])
        counts.organizations += len(batch["organizations"])
        counts.locations += len(batch["locations"])
        counts.programs += len(batch["programs"])
    await documents.write_all(conn)
    return counts


async def clear(conn: asyncpg.Connection) -> int:
    """Delete every synthetic organization (and, by cascade, its programs and locations)."""
    result: str = await conn.execute(
        "DELETE FROM organizations WHERE external_id LIKE 'synthetic:%'"
    )
    return int(result.split()[-1])
