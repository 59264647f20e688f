"""Operations: readiness for load balancers, Prometheus metrics for monitoring."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel
from sqlalchemy import text

from service.db import SessionDep
from service.errors import AppError, problem_responses
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
    summary="Readiness: database reachable, migrations current, search index built and current",
    responses={
        **problem_responses(),
        503: {"model": Readiness, "description": "Not ready; see checks"},
    },
)
async def ready(request: Request, session: SessionDep) -> Any:
    """Checks that the database answers, that its migrations are at the head revision, that the
    search index is built (the embedded one: by this process) and that the oldest catalog change
    it has not applied is within YOUTHLINK_READY_MAX_SEARCH_LAG_S (300 s by default). Answers 200
    with `status: ready`, or 503 with `status: not_ready` and the result of each check. No API key
    needed; meant for load balancers.
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
    checks["search"] = await _search_check(request, session)
    return _answer(checks)


async def _search_check(request: Request, session: SessionDep) -> Check:
    bound = get_settings().ready_max_search_lag_s
    try:
        status = await request.app.state.search.status(session)
    except AppError as exc:  # the search server does not answer
        return Check(ok=False, detail=exc.detail or exc.code)
    follower = status.follower
    if status.engine == "tantivy" and follower.built_at is None:
        return Check(ok=False, detail="the embedded index is being built")
    lag = follower.oldest_pending_seconds or 0.0
    detail = (
        f"{status.documents} documents; oldest unapplied change {lag:.0f} s (bound {bound:.0f} s)"
    )
    return Check(ok=lag <= bound, detail=detail)


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
async def prometheus_metrics(request: Request, session: SessionDep) -> Response:
    """Returns Prometheus metrics in the text exposition format: request latency by method, route
    template and status, the search index's unapplied changes and lag, the program documents kept
    for reads without a key (hits, misses, documents), and webhook-delivery gauges read from the
    database at scrape time. No API key needed. With several worker processes, latency, the
    embedded index's and the kept documents' figures are each process's own (latency: unless
    PROMETHEUS_MULTIPROC_DIR is set).
    """
    status = await request.app.state.search.status(session)
    kept = getattr(request.app.state, "program_cache", None)
    return Response(await exposition(session, status, kept), media_type=CONTENT_TYPE_LATEST)
