"""Prometheus metrics: request latency by route, search index lag, the program documents
kept for anonymous reads, webhook failures.

Latency is observed by a middleware in each API process (with several uvicorn workers,
each process answers for itself unless PROMETHEUS_MULTIPROC_DIR is set, see
prometheus-client). The search figures are the answering process's index (embedded) or
the worker's (Meilisearch); webhook figures are read from the database at scrape time.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.catalog.program_cache import ProgramCache
from service.search.schemas import SearchStatus

REGISTRY = CollectorRegistry()
LATENCY = Histogram(
    "youthlink_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route", "status"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SEARCH_PENDING = Gauge(
    "youthlink_search_pending_changes",
    "Change log rows the search index has not applied",
    registry=REGISTRY,
)
SEARCH_OLDEST = Gauge(
    "youthlink_search_lag_seconds",
    "Age of the oldest change the search index has not applied",
    registry=REGISTRY,
)
SEARCH_DOCUMENTS = Gauge(
    "youthlink_search_documents", "Programs in the search index", registry=REGISTRY
)
WEBHOOKS_PENDING = Gauge(
    "youthlink_webhook_messages_pending", "Webhook messages not yet delivered", registry=REGISTRY
)
WEBHOOKS_FAILED = Gauge(
    "youthlink_webhook_messages_failed",
    "Webhook messages given up after every retry",
    registry=REGISTRY,
)
PROGRAM_READS = Gauge(
    "youthlink_program_cache_reads",
    "Reads without a key of GET /programs/{id} since the process started, served from its "
    "kept documents (hit) or from PostgreSQL (miss)",
    ["outcome"],
    registry=REGISTRY,
)
PROGRAMS_KEPT = Gauge(
    "youthlink_program_cache_documents", "Program documents the process keeps", registry=REGISTRY
)
WEBHOOK_ATTEMPTS_FAILED = Gauge(
    "youthlink_webhook_attempts_failed", "Webhook delivery attempts that failed", registry=REGISTRY
)


class Timing:
    """Observes every HTTP request's latency under its route template (not its path)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def seen(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, seen)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            LATENCY.labels(scope["method"], route, str(status["code"])).observe(
                time.perf_counter() - started
            )


FIGURES = """
SELECT (SELECT count(*) FROM webhook_messages
         WHERE delivered_at IS NULL AND failed_at IS NULL) AS hooks,
       (SELECT count(*) FROM webhook_messages WHERE failed_at IS NOT NULL) AS failed,
       (SELECT count(*) FROM webhook_attempts WHERE error IS NOT NULL) AS attempts
"""


async def exposition(
    session: AsyncSession, search: SearchStatus, kept: ProgramCache | None = None
) -> bytes:
    row = (await session.execute(text(FIGURES))).one()
    if kept is not None:
        PROGRAM_READS.labels("hit").set(kept.hits)
        PROGRAM_READS.labels("miss").set(kept.misses)
        PROGRAMS_KEPT.set(len(kept))
    SEARCH_PENDING.set(search.follower.pending_changes)
    SEARCH_OLDEST.set(search.follower.oldest_pending_seconds or 0.0)
    SEARCH_DOCUMENTS.set(search.documents)
    WEBHOOKS_PENDING.set(row.hooks)
    WEBHOOKS_FAILED.set(row.failed)
    WEBHOOK_ATTEMPTS_FAILED.set(row.attempts)
    return generate_latest(REGISTRY)
