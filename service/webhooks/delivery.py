"""Sending webhook messages: Standard Webhooks signatures, retries with backoff, a log.

The worker claims due messages with a lease (available_at moves past the send timeout) in
a short transaction, sends them with no transaction open, then records each outcome. A
worker that dies mid-send leaves the lease to run out, and the message goes again:
delivery is at-least-once, and receivers deduplicate on the webhook-id header.

Signing follows https://www.standardwebhooks.com: the signed content is
`{webhook-id}.{webhook-timestamp}.{body}`, HMAC-SHA256 under the base64-decoded secret,
sent as `webhook-signature: v1,<base64>`. The `standardwebhooks` package (the
specification's reference library) computes it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks.webhooks import Webhook

from service.db import utcnow
from service.sealing.keyring import keyring
from service.settings import get_settings
from service.webhooks.destinations import destination_refusal
from service.webhooks.models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from service.webhooks.service import open_secret

log = logging.getLogger("youthlink.webhooks")

FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=6)
USER_AGENT = "Youthlink-Webhooks/1"


def backoff(attempts: int) -> timedelta:
    """Wait after the `attempts`-th failure: 30 s, 1 min, 2 min, ... at most 6 h."""
    return min(FIRST_RETRY * 2 ** max(attempts - 1, 0), MAX_RETRY)


def next_attempt_at(message: WebhookMessage) -> datetime | None:
    if message.delivered_at is not None or message.failed_at is not None:
        return None
    return message.available_at


def body_of(message: WebhookMessage) -> str:
    return json.dumps(message.payload, separators=(",", ":"), sort_keys=True)


def signed_headers(secret: str, message_id: str, at: datetime, body: str) -> dict[str, str]:
    at = at.astimezone(UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


@dataclass(frozen=True)
class Claimed:
    id: uuid.UUID
    url: str
    secret: str
    body: str


@dataclass
class Delivered:
    sent: int = 0
    failed: int = 0


async def _claim(sessions: async_sessionmaker[AsyncSession], batch: int) -> list[Claimed]:
    lease = timedelta(seconds=get_settings().webhook_timeout_s * 3)
    async with sessions() as session, session.begin():
        now = utcnow()
        rows = (
            await session.execute(
                select(
                    WebhookMessage,
                    WebhookEndpoint.url,
                    WebhookEndpoint.secret_key_id,
                    WebhookEndpoint.secret_sealed,
                )
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookMessage.endpoint_id)
                .where(
                    WebhookEndpoint.active.is_(True),  # paused endpoints keep their backlog
                    WebhookMessage.delivered_at.is_(None),
                    WebhookMessage.failed_at.is_(None),
                    WebhookMessage.available_at <= now,
                )
                .order_by(WebhookMessage.available_at, WebhookMessage.id)
                .limit(batch)
                .with_for_update(of=WebhookMessage, skip_locked=True)
            )
        ).all()
        for message, *_ in rows:
            message.available_at = now + lease
        ring = keyring()
        return [
            Claimed(m.id, url, open_secret(ring, m.endpoint_id, key_id, sealed), body_of(m))
            for m, url, key_id, sealed in rows
        ]


async def _send(client: httpx.AsyncClient, claimed: Claimed) -> tuple[int | None, str | None, int]:
    started = time.perf_counter()
    headers = signed_headers(claimed.secret, str(claimed.id), utcnow(), claimed.body)
    why = await destination_refusal(claimed.url, get_settings().webhook_allow_private_networks)
    if why is not None:  # the name resolves inward now: count it as a failed attempt
        return None, f"destination refused: {why}", 0
    try:
        response = await client.post(claimed.url, content=claimed.body, headers=headers)
        status, error = response.status_code, None
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    except httpx.HTTPError as exc:
        status, error = None, f"{type(exc).__name__}: {exc}"[:500]
    return status, error, int((time.perf_counter() - started) * 1000)


async def _record(
    sessions: async_sessionmaker[AsyncSession],
    claimed: Claimed,
    status: int | None,
    error: str | None,
    duration_ms: int,
) -> bool:
    async with sessions() as session, session.begin():
        message = await session.get(WebhookMessage, claimed.id, with_for_update=True)
        if message is None:  # its endpoint was deleted meanwhile
            return False
        now = utcnow()
        session.add(
            WebhookAttempt(
                message_id=message.id,
                attempted_at=now,
                status_code=status,
                error=error,
                duration_ms=duration_ms,
            )
        )
        message.attempts += 1
        message.last_status = status
        message.last_error = error
        if error is None:
            message.delivered_at = now
            return True
        if message.attempts >= get_settings().webhook_max_attempts:
            message.failed_at = now
            log.warning(
                "webhook %s given up after %d attempts: %s", message.id, message.attempts, error
            )
        else:
            message.available_at = now + backoff(message.attempts)
        return False


async def deliver_due(
    sessions: async_sessionmaker[AsyncSession], client: httpx.AsyncClient, batch: int = 50
) -> Delivered:
    """Send every message that is due now, once."""

    async def one(claimed: Claimed) -> bool:
        status, error, duration_ms = await _send(client, claimed)
        return await _record(sessions, claimed, status, error, duration_ms)

    outcomes = await asyncio.gather(*(one(c) for c in await _claim(sessions, batch)))
    return Delivered(sent=sum(outcomes), failed=len(outcomes) - sum(outcomes))


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=get_settings().webhook_timeout_s, follow_redirects=False)
