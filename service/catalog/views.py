"""ORM rows -> API schemas (the mapping that needs more than from_attributes)."""

from __future__ import annotations

from service.catalog.enums import Grade
from service.catalog.models import Location, Program
from service.catalog.schemas import (
    CostOptionOut,
    LocationOut,
    ProgramOut,
    ScheduleOut,
    TaxonomyTermOut,
    Translation,
)
from service.geometry import point_coords, to_geojson


def location_out(location: Location) -> LocationOut:
    coords = point_coords(location.point)
    return LocationOut.model_validate(
        {
            **{k: getattr(location, k) for k in LocationOut.model_fields if hasattr(location, k)},
            "latitude": coords[0] if coords else None,
            "longitude": coords[1] if coords else None,
        }
    )


def grade_of(rank: int | None) -> Grade | None:
    """The grade stored as its rank (PK = -1, K = 0), or None."""
    return None if rank is None else Grade.from_rank(rank)


def program_out(program: Program) -> ProgramOut:
    return ProgramOut(
        id=program.id,
        organization_id=program.organization_id,
        name=program.name,
        description=program.description,
        url=program.url,
        email=program.email,
        category=program.category,
        taxonomy_terms=[TaxonomyTermOut.model_validate(t) for t in program.taxonomy_terms],
        min_age=None if program.min_age is None else float(program.min_age),
        max_age=None if program.max_age is None else float(program.max_age),
        min_grade=grade_of(program.min_grade),
        max_grade=grade_of(program.max_grade),
        cost_options=[CostOptionOut.model_validate(c) for c in program.cost_options],
        languages=list(program.languages),
        schedules=[ScheduleOut.model_validate(s) for s in program.schedules],
        season=program.season,
        starts_on=program.starts_on,
        ends_on=program.ends_on,
        enrollment_status=program.enrollment_status,
        seats_available=program.seats_available,
        registration_deadline=program.registration_deadline,
        transportation_provided=program.transportation_provided,
        accessibility=list(program.accessibility),
        accepting_referrals=program.accepting_referrals,
        status=program.status,
        translations={k: Translation.model_validate(v) for k, v in program.translations.items()},
        locations=[location_out(loc) for loc in program.locations],
        service_area=to_geojson(program.service_area),
        last_verified_at=program.last_verified_at,
        created_at=program.created_at,
        updated_at=program.updated_at,
        version=program.version,
    )
