"""A small catalog whose search answers are known in advance (the contract suite's data).

Programs are named by a short key; tests assert on sets of keys. Sites:
GREEN (Norwalk green), SONO (South Norwalk, about 3.3 km south-west) and FAR (outside the
city, about 60 km away). Dates are fixed so the suite does not depend on today, except
`enrollment_open` and `verified_within_days`, which are relative to now.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.catalog.enums import (
    Category,
    CostPeriod,
    EnrollmentStatus,
    OrganizationType,
    ProgramStatus,
    Season,
)
from service.catalog.models import (
    CostOption,
    Location,
    Organization,
    Program,
    Schedule,
    Taxonomy,
    TaxonomyTerm,
)
from service.geometry import point_element

GREEN = (41.1177, -73.4082)
SONO = (41.0930, -73.4210)
FAR = (41.3083, -72.9279)  # New Haven

NOW = datetime.now(UTC)
FREE = {"free": True}


def cost(amount: str, period: CostPeriod) -> dict[str, Any]:
    return {"free": False, "amount": Decimal(amount), "currency": "USD", "period": period}


def weekly(days: list[str], opens: str, closes: str) -> dict[str, Any]:
    return {
        "byday": days,
        "opens_at": time.fromisoformat(opens),
        "closes_at": time.fromisoformat(closes),
    }


@dataclass
class Spec:
    key: str
    name: str
    description: str
    category: Category = Category.out_of_school_time
    min_age: str | None = None
    max_age: str | None = None
    min_grade: int | None = None
    max_grade: int | None = None
    languages: list[str] = field(default_factory=lambda: ["en"])
    costs: list[dict[str, Any]] = field(default_factory=list)
    schedules: list[dict[str, Any]] = field(default_factory=list)
    season: Season = Season.year_round
    starts_on: date | None = None
    ends_on: date | None = None
    sites: list[str] = field(default_factory=lambda: ["GREEN"])
    es: dict[str, str] | None = None
    terms: list[str] = field(default_factory=list)
    accessibility: list[str] = field(default_factory=list)
    transportation: bool = False
    accepting_referrals: bool = True
    enrollment: EnrollmentStatus = EnrollmentStatus.open
    deadline: date | None = None
    verified_days_ago: int | None = 10
    status: ProgramStatus = ProgramStatus.active


SPECS = [
    Spec(
        "soccer",
        "Lions Soccer Club",
        "Weekly soccer practice and friendly games for kids.",
        min_age="6",
        max_age="10",
        languages=["en", "es"],
        costs=[FREE],
        schedules=[weekly(["MO", "WE"], "15:30", "17:00")],
        season=Season.school_year,
        es={"name": "Club de Fútbol Leones", "description": "Práctica semanal de fútbol."},
        terms=["sports"],
        accessibility=["wheelchair_accessible"],
        transportation=True,
        verified_days_ago=5,
    ),
    Spec(
        "tutoring",
        "Riverside Tutoring Center",
        "One-on-one help with reading and math.",
        min_age="10.5",
        max_age="13",
        costs=[cost("40", CostPeriod.month)],
        schedules=[weekly(["TU", "TH"], "16:00", "18:00")],
        sites=["FAR", "SONO"],
        terms=["tutoring"],
        verified_days_ago=40,
    ),
    Spec(
        "homework",
        "Homework Help Hub",
        "Drop in after class to finish assignments with volunteers.",
        min_age="8",
        max_age="12",
        costs=[cost("15", CostPeriod.week)],
        schedules=[weekly(["MO", "TU", "WE", "TH", "FR"], "15:00", "18:00")],
        season=Season.school_year,
        sites=["SONO"],
    ),
    Spec(
        "counseling",
        "Teen Counseling Circle",
        "A weekly support group led by a licensed counselor.",
        category=Category.social_emotional_health,
        min_age="13",
        max_age="18",
        languages=["en", "es", "pt"],
        costs=[FREE],
        schedules=[weekly(["SA"], "10:00", "12:00")],
        sites=["VIRTUAL"],
        accessibility=["wheelchair_accessible", "asl_interpretation"],
        verified_days_ago=2,
    ),
    Spec(
        "coding",
        "Summer Coding Camp",
        "Build games and websites in a six-week camp.",
        min_age="11",
        max_age="15",
        costs=[cost("300", CostPeriod.once)],
        schedules=[weekly(["MO", "TU", "WE", "TH", "FR"], "09:00", "15:00")],
        season=Season.summer,
        starts_on=date(2026, 7, 6),
        ends_on=date(2026, 8, 14),
        sites=["SONO"],
        verified_days_ago=100,
    ),
    Spec(
        "music",
        "Family Music Café",
        "Sing, dance and play instruments with your little ones.",
        category=Category.early_childhood,
        min_age="0",
        max_age="4",
        languages=["es"],
        costs=[cost("10", CostPeriod.session)],
        schedules=[weekly(["SA"], "09:00", "10:00")],
        es={"name": "Café de Música Familiar", "description": "Canten y bailen con sus pequeños."},
        verified_days_ago=None,
    ),
    Spec(
        "internship",
        "Career Pathways Internship",
        "Paid summer internships with local employers.",
        category=Category.college_workforce_readiness,
        min_age="16",
        max_age="21",
        min_grade=10,
        max_grade=12,
        costs=[cost("1200", CostPeriod.year)],
        schedules=[weekly(["MO", "WE"], "17:00", "19:30")],
        accepting_referrals=False,
        enrollment=EnrollmentStatus.closed,
        verified_days_ago=400,
        sites=["FAR"],
    ),
    Spec(
        "readers",
        "Early Readers Club",
        "Picture books and phonics games before kindergarten.",
        category=Category.early_childhood,
        min_age="4.5",
        max_age="6",
        costs=[FREE],
        schedules=[weekly(["SU"], "13:00", "14:00")],
        sites=["SONO", "GREEN"],
        deadline=date(2020, 1, 1),
    ),
    Spec(
        "gym",
        "Open Gym Nights",
        "Basketball and games for the whole family.",
        category=Category.family_support,
        schedules=[weekly(["FR"], "18:00", "21:00")],
        sites=[],
        verified_days_ago=None,
    ),
    Spec(
        "art",
        "Spring Break Art Workshop",
        "Painting and sculpture during the spring break week.",
        min_age="7",
        max_age="12",
        costs=[cost("25", CostPeriod.day)],
        schedules=[weekly(["MO", "TU", "WE", "TH", "FR"], "10:00", "14:00")],
        season=Season.dates,
        starts_on=date(2026, 4, 13),
        ends_on=date(2026, 4, 17),
        enrollment=EnrollmentStatus.waitlist,
    ),
    Spec(
        "chess",
        "Closed Chess Club",
        "Chess for every age (not active: never a hit).",
        status=ProgramStatus.inactive,
    ),
]
ACTIVE = {s.key for s in SPECS if s.status is ProgramStatus.active}


@dataclass
class Built:
    ids: dict[str, uuid.UUID]
    sites: dict[str, uuid.UUID]

    def key_of(self, program_id: str) -> str:
        return {str(v): k for k, v in self.ids.items()}[program_id]


async def build_catalog(session: AsyncSession) -> Built:
    provider = Organization(type=OrganizationType.provider, name="Harbor Youth Alliance")
    session.add(provider)
    await session.flush()
    sites: dict[str, Location] = {}
    for key, point in (("GREEN", GREEN), ("SONO", SONO), ("FAR", FAR)):
        sites[key] = Location(
            organization_id=provider.id, name=key.title(), point=point_element(*point)
        )
    sites["VIRTUAL"] = Location(organization_id=provider.id, name="Online", is_virtual=True)
    session.add_all(sites.values())
    taxonomy = Taxonomy(name="Contract taxonomy")
    session.add(taxonomy)
    await session.flush()
    activities = TaxonomyTerm(taxonomy_id=taxonomy.id, code="activities", name="Activities")
    session.add(activities)
    await session.flush()
    terms = {
        "sports": TaxonomyTerm(
            taxonomy_id=taxonomy.id,
            code="sports",
            name="Sports",
            name_es="Deportes",
            parent_id=activities.id,
        ),
        "tutoring": TaxonomyTerm(
            taxonomy_id=taxonomy.id, code="tutoring-term", name="Academic support"
        ),
    }
    session.add_all(terms.values())
    await session.flush()
    ids = {}
    for spec in SPECS:
        program = Program(
            organization_id=provider.id,
            name=spec.name,
            description=spec.description,
            category=spec.category,
            min_age=Decimal(spec.min_age) if spec.min_age else None,
            max_age=Decimal(spec.max_age) if spec.max_age else None,
            min_grade=spec.min_grade,
            max_grade=spec.max_grade,
            languages=spec.languages,
            season=spec.season,
            starts_on=spec.starts_on,
            ends_on=spec.ends_on,
            enrollment_status=spec.enrollment,
            registration_deadline=spec.deadline,
            transportation_provided=spec.transportation,
            accessibility=spec.accessibility,
            accepting_referrals=spec.accepting_referrals,
            status=spec.status,
            translations={"es": spec.es} if spec.es else {},
            last_verified_at=(
                NOW - timedelta(days=spec.verified_days_ago) if spec.verified_days_ago else None
            ),
            locations=[sites[s] for s in spec.sites],
            taxonomy_terms=[terms[t] for t in spec.terms],
            cost_options=[CostOption(position=i, **c) for i, c in enumerate(spec.costs)],
            schedules=[Schedule(position=i, **s) for i, s in enumerate(spec.schedules)],
        )
        session.add(program)
        await session.flush()
        ids[spec.key] = program.id
    return Built(ids=ids, sites={k: v.id for k, v in sites.items()})
