"""Operations: readiness for load balancers, Prometheus metrics for monitoring."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel
from sqlalchemy import text

from service.db import SessionDep
from service.errors import problem_responses
from service.migrate import current_revision, head_revision
from service.ops.prometheus import exposition
from service.settings import get_settings

router = APIRouter(tags=["operations"])


class Check(BaseModel):
    ok: bool
    detail: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, Check]


@router.get(
    "/ready",
    operation_id="ready",
    summary="Readiness: database reachable, migrations current, outbox lag under its bound",
    responses={
        **problem_responses(),
        503: {"model": Readiness, "description": "Not ready; see checks"},
    },
)
async def ready(session: SessionDep) -> Any:
    """Checks that the database answers, that its migrations are at the head revision, and that the
    oldest catalog change waiting for the search index is within YOUTHLINK_READY_MAX_OUTBOX_LAG_S
    (300 s by default). Answers 200 with `status: ready`, or 503 with `status: not_ready` and the
    result of each check. No API key needed; meant for load balancers.
    """
    checks: dict[str, Check] = {}
    try:
        await session.execute(text("SELECT 1"))
        checks["database"] = Check(ok=True, detail="reachable")
    except Exception as exc:  # the database is down: not ready, and say why
        checks["database"] = Check(ok=False, detail=type(exc).__name__)
        return _answer(checks)
    current = await session.run_sync(lambda s: current_revision(s.connection()))
    head = _head()
    checks["migrations"] = Check(ok=current == head, detail=f"at {current}, head {head}")
    bound = get_settings().ready_max_outbox_lag_s
    oldest = await session.scalar(
        text("SELECT extract(epoch FROM now() - min(enqueued_at)) FROM search_outbox")
    )
    lag = float(oldest or 0)
    checks["search_outbox"] = Check(
        ok=lag <= bound, detail=f"oldest change {lag:.0f} s (bound {bound:.0f} s)"
    )
    return _answer(checks)


@lru_cache(maxsize=1)
def _head() -> str | None:
    return head_revision()  # the scripts on disk do not change while the process runs


def _answer(checks: dict[str, Check]) -> JSONResponse:
    ok = all(c.ok for c in checks.values())
    body = Readiness(status="ready" if ok else "not_ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get(
    "/metrics",
    operation_id="prometheus_metrics",
    summary="Prometheus metrics (text exposition format)",
    responses={
        **problem_responses(),
        200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}},
    },
    response_class=Response,
)
async def prometheus_metrics(session: SessionDep) -> Response:
    """Returns Prometheus metrics in the text exposition format: request latency by method, route
    template and status, and search-outbox and webhook-delivery gauges read from the database at
    scrape time. No API key needed. With several worker processes, latency is each process's own
    unless PROMETHEUS_MULTIPROC_DIR is set.
    """
    return Response(await exposition(session), media_type=CONTENT_TYPE_LATEST)
