"""GET /metrics/...: coordination and equity measures, de-identified, small cells withheld."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from service.auth.principal import Principal, require_roles
from service.auth.roles import Role
from service.catalog.enums import Category
from service.db import SessionDep
from service.errors import problem_responses
from service.local_time import today
from service.metrics import directory, report, service
from service.metrics.csv_out import to_csv
from service.metrics.dimensions import Dimension
from service.metrics.fallback import Fallback
from service.metrics.periods import BLOCK_YEARS, Period, parse_school_year, school_year_of
from service.metrics.schemas import AccessReport, DirectoryHealth, ReferralMetrics
from service.metrics.scope import Scope

router = APIRouter(prefix="/metrics", tags=["metrics"])
Reader = Annotated[Principal, require_roles(Role.analyst, Role.admin, Role.school, Role.provider)]
CSV = "text/csv"
GEOJSON = "application/geo+json"


SchoolYear = Annotated[
    str | None,
    Query(
        description="The school year counted (July to June), e.g. 2025-26; default: the "
        "current one. Metrics count whole school years only: any other period, set beside "
        "its neighbours, would give away the referrals between them.",
        examples=["2025-26"],
        max_length=7,
        pattern=r"^\d{4}-\d{2}$",
    ),
]
Years = Annotated[
    int,
    Query(
        ge=1,
        le=BLOCK_YEARS,
        description=f"1, or {BLOCK_YEARS}: the block of school years ending with school_year",
    ),
]


def _period(school_year: str | None, years: int) -> Period:
    first = school_year_of(today()) if school_year is None else parse_school_year(school_year)
    return Period(first, years)


def wants_csv(request: Request) -> bool:
    return CSV in request.headers.get("accept", "")


def csv_response(body: str) -> Response:
    return Response(content=body, media_type=f"{CSV}; charset=utf-8")


def with_csv() -> dict[int | str, dict[str, Any]]:
    return {
        **problem_responses(401, 403),
        200: {"content": {"application/json": {}, CSV: {"schema": {"type": "string"}}},
              "description": "JSON, or CSV with Accept: text/csv"},
    }  # fmt: skip


@router.get(
    "/referrals",
    operation_id="metrics_referrals",
    summary="Referral outcomes by group, with gaps to all students",
    description="Rows from fewer than YOUTHLINK_MIN_CELL students are withheld "
    "(suppressed, with complementary suppression); extreme rates of small groups are "
    "top/bottom coded. Schools and providers see only their own referrals.",
    responses=with_csv(),
    response_model=ReferralMetrics,
)
async def metrics_referrals(
    request: Request,
    session: SessionDep,
    principal: Reader,
    school_year: SchoolYear = None,
    years: Years = 1,
    group_by: Annotated[
        list[Dimension] | None,
        Query(max_length=2, description="One or two dimensions (repeat the parameter)"),
    ] = None,
    program_category: Annotated[Category | None, Query()] = None,
    provider: Annotated[uuid.UUID | None, Query(description="A provider organization")] = None,
    school: Annotated[uuid.UUID | None, Query(description="A school organization")] = None,
    fallback: Annotated[
        Fallback,
        Query(
            description="auto (default): when fewer than 80% of the table's students would "
            "show, collapse small categories into `other`, coarsen tract to ZIP, then pool "
            "the three school years ending with school_year, saying so in "
            "collapsed/coarsened/pooled; none: the table as asked, however much is withheld"
        ),
    ] = Fallback.auto,
) -> Any:
    period = _period(school_year, years)
    scope = Scope(
        start=period.start,
        end=period.end,
        program_category=program_category.value if program_category else None,
        provider_id=provider,
        school_id=school,
    )
    result = await service.referral_metrics(
        session, principal, group_by or [], scope, period, fallback
    )
    if wants_csv(request):
        rows = [result.all_students, *result.rows, *result.totals]
        return csv_response(to_csv(rows, first=[f"group.{d.value}" for d in result.group_by]))
    return result


@router.get(
    "/directory",
    operation_id="metrics_directory",
    summary="Directory health: programs by category and status, verification, capacity",
    responses=with_csv(),
    response_model=DirectoryHealth,
)
async def metrics_directory(request: Request, session: SessionDep, principal: Reader) -> Any:
    """Returns programs counted by category and status, how many active programs their provider
    verified in the last 180 days (and that share), and how many take referrals with seats left.
    Analyst, admin, school and provider keys; the figures cover every organization, not only yours.
    Send `Accept: text/csv` to get the category and status counts as CSV.
    """
    result = await directory.directory_health(session)
    if wants_csv(request):
        return csv_response(to_csv(result.by_category_and_status))
    return result


@router.get(
    "/access",
    operation_id="metrics_access",
    summary="Programs within reach of each census tract, and program deserts",
    description="Each tract is placed at its point on surface (a point inside it) and "
    "counts active programs of the category with a site within distance_m. JSON, CSV "
    "(Accept: text/csv) or GeoJSON tract polygons (Accept: application/geo+json).",
    responses={
        **with_csv(),
        200: {
            "content": {
                "application/json": {},
                CSV: {"schema": {"type": "string"}},
                GEOJSON: {"schema": {"type": "object"}},
            },
            "description": "JSON, CSV, or a GeoJSON FeatureCollection",
        },
    },
    response_model=AccessReport,
)
async def metrics_access(
    request: Request,
    session: SessionDep,
    principal: Reader,
    category: Annotated[Category | None, Query(description="Default: every category")] = None,
    distance_m: Annotated[int, Query(ge=100, le=50_000, description="Reach in meters")] = 1600,
) -> Any:
    geojson = GEOJSON in request.headers.get("accept", "")
    report, shapes = await directory.access(
        session, category.value if category else None, distance_m, geojson
    )
    if geojson:
        return JSONResponse(directory.access_features(report, shapes), media_type=GEOJSON)
    if wants_csv(request):
        return csv_response(to_csv(report.tracts))
    return report


@router.get(
    "/report",
    operation_id="metrics_report",
    summary="A self-contained HTML report for board meetings",
    description="All-students figures, the loop closed within 90 days by group (suppressed "
    "groups marked) and a census-tract map coloured by access to programs. No external "
    "assets: inline styles and SVG.",
    responses={
        **problem_responses(401, 403),
        200: {"content": {"text/html": {"schema": {"type": "string"}}}, "description": "HTML"},
    },
    response_class=HTMLResponse,
)
async def metrics_report(
    session: SessionDep,
    principal: Reader,
    school_year: SchoolYear = None,
    years: Years = 1,
    group_by: Annotated[Dimension, Query(description="One dimension")] = Dimension.race_ethnicity,
    category: Annotated[Category | None, Query(description="For the access map")] = None,
    distance_m: Annotated[int, Query(ge=100, le=50_000)] = 1600,
    lang: Annotated[
        Literal["en", "es"], Query(description="The report's language: en or es")
    ] = "en",
) -> HTMLResponse:
    period = _period(school_year, years)
    scope = Scope(start=period.start, end=period.end)
    metrics = await service.referral_metrics(session, principal, [group_by], scope, period)
    health = await directory.directory_health(session)
    access, shapes = await directory.access(
        session, category.value if category else None, distance_m, True
    )
    geojson = directory.access_features(access, shapes)
    return HTMLResponse(report.render(metrics, health, access, shapes, geojson, lang))
