"""GET /metrics/...: coordination and equity measures, de-identified, small cells withheld."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from service.auth.principal import Principal, require_roles
from service.auth.roles import Role
from service.catalog.enums import Category
from service.db import SessionDep
from service.errors import problem_responses
from service.local_time import today
from service.metrics import service
from service.metrics.csv_out import to_csv
from service.metrics.dimensions import Dimension
from service.metrics.query import Scope
from service.metrics.schemas import ReferralMetrics
from service.schema_types import QueryDay

router = APIRouter(prefix="/metrics", tags=["metrics"])
Reader = Annotated[Principal, require_roles(Role.analyst, Role.admin, Role.school, Role.provider)]
CSV = "text/csv"


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
    from_: Annotated[
        QueryDay | None, Query(alias="from", description="Sent on or after (default: a year ago)")
    ] = None,
    to: Annotated[QueryDay | None, Query(description="Sent on or before (default: today)")] = None,
    group_by: Annotated[
        list[Dimension] | None, Query(description="One or two dimensions (repeat the parameter)")
    ] = None,
    program_category: Annotated[Category | None, Query()] = None,
    provider: Annotated[uuid.UUID | None, Query(description="A provider organization")] = None,
    school: Annotated[uuid.UUID | None, Query(description="A school organization")] = None,
) -> Any:
    end = to or today()
    scope = Scope(
        start=from_ or end - timedelta(days=365),
        end=end,
        program_category=program_category.value if program_category else None,
        provider_id=provider,
        school_id=school,
    )
    result = await service.referral_metrics(session, principal, group_by or [], scope)
    if wants_csv(request):
        rows = [result.all_students, *result.rows, *result.totals]
        return csv_response(to_csv(rows, first=[f"group.{d.value}" for d in result.group_by]))
    return result
