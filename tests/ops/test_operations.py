"""Readiness, Prometheus metrics, request ids and JSON logs."""

from __future__ import annotations

import json
import logging
import logging.config

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service.ops import logs
from tests.conftest import Callers


async def test_ready_once_migrated_and_the_search_index_is_built_and_current(
    client: httpx.AsyncClient,
) -> None:
    building = await client.get("/ready")  # this process has not built its index yet
    assert building.status_code == 503
    assert building.json()["checks"]["search"] == {
        "ok": False,
        "detail": "the embedded index is being built",
    }
    assert (await client.get("/search/programs")).status_code == 200  # builds it
    response = await client.get("/ready")
    assert response.status_code == 200, response.text
    checks = response.json()["checks"]
    assert checks["database"]["ok"] and checks["migrations"]["ok"] and checks["search"]["ok"]


async def test_not_ready_when_the_search_index_lags(
    client: httpx.AsyncClient, session: AsyncSession, callers: Callers
) -> None:
    await client.get("/search/programs")
    await session.execute(
        text(
            "INSERT INTO search_changes (program_id, changed_at) "
            "VALUES (gen_random_uuid(), now() - interval '1 hour')"
        )
    )
    response = await client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready" and not body["checks"]["search"]["ok"]


async def test_prometheus_metrics(client: httpx.AsyncClient, session: AsyncSession) -> None:
    await client.get("/programs")
    await client.get("/search/programs")
    await session.execute(
        text("INSERT INTO search_changes (program_id) VALUES (gen_random_uuid()), (NULL)")
    )
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    body = response.text
    assert (
        'youthlink_http_request_duration_seconds_count{method="GET",route="/programs",status="200"}'
        in body
    )
    assert "youthlink_search_pending_changes 2.0" in body
    assert "youthlink_search_documents" in body and "youthlink_search_lag_seconds" in body
    assert "youthlink_webhook_messages_failed" in body


async def test_request_ids_are_kept_or_made(client: httpx.AsyncClient) -> None:
    given = await client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    made = await client.get("/health", headers={"X-Request-ID": "not ok!"})
    assert made.headers["X-Request-ID"] != "not ok!" and len(made.headers["X-Request-ID"]) == 32


async def test_log_lines_are_json_with_the_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    logging.config.dictConfig(logs.config("INFO"))
    try:
        from service.ops.context import RequestId

        seen: list[str] = []

        async def app(scope, receive, send):  # type: ignore[no-untyped-def]
            logging.getLogger("youthlink.test").info("inside a request")
            seen.append("called")
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        transport = httpx.ASGITransport(app=RequestId(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            await c.get("/", headers={"X-Request-ID": "req-42"})
        line = next(ln for ln in capsys.readouterr().err.splitlines() if "inside a request" in ln)
        record = json.loads(line)
        assert record["request_id"] == "req-42" and record["level"] == "INFO"
        assert record["message"] == "inside a request" and seen == ["called"]
    finally:
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
