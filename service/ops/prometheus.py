"""Prometheus metrics: request latency by route, outbox lag, webhook failures.

Latency is observed by a middleware in each API process (with several uvicorn workers,
each process answers for itself unless PROMETHEUS_MULTIPROC_DIR is set, see
prometheus-client). Outbox and webhook figures are read from the database at scrape
time, so every process reports the same, true values.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REGISTRY = CollectorRegistry()
LATENCY = Histogram(
    "youthlink_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route", "status"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SEARCH_PENDING = Gauge(
    "youthlink_search_outbox_pending",
    "Catalog changes not yet in the search index",
    registry=REGISTRY,
)
SEARCH_OLDEST = Gauge(
    "youthlink_search_outbox_oldest_seconds",
    "Age of the oldest pending search change",
    registry=REGISTRY,
)
WEBHOOKS_PENDING = Gauge(
    "youthlink_webhook_messages_pending", "Webhook messages not yet delivered", registry=REGISTRY
)
WEBHOOKS_FAILED = Gauge(
    "youthlink_webhook_messages_failed",
    "Webhook messages given up after every retry",
    registry=REGISTRY,
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
SELECT (SELECT count(*) FROM search_outbox) AS pending,
       (SELECT extract(epoch FROM now() - min(enqueued_at)) FROM search_outbox) AS oldest,
       (SELECT count(*) FROM webhook_messages
         WHERE delivered_at IS NULL AND failed_at IS NULL) AS hooks,
       (SELECT count(*) FROM webhook_messages WHERE failed_at IS NOT NULL) AS failed,
       (SELECT count(*) FROM webhook_attempts WHERE error IS NOT NULL) AS attempts
"""


async def exposition(session: AsyncSession) -> bytes:
    row = (await session.execute(text(FIGURES))).one()
    SEARCH_PENDING.set(row.pending)
    SEARCH_OLDEST.set(float(row.oldest or 0))
    WEBHOOKS_PENDING.set(row.hooks)
    WEBHOOKS_FAILED.set(row.failed)
    WEBHOOK_ATTEMPTS_FAILED.set(row.attempts)
    return generate_latest(REGISTRY)
