"""Webhook endpoints, and `emit`: the outbox write every event goes through.

`emit` runs in the transaction that made the event, so a message exists exactly when the
change committed; the worker (webhooks/delivery.py) sends it later. Payloads carry ids and
statuses only, never a student's personal data.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit.service import record
from service.auth import scope
from service.auth.principal import Principal
from service.catalog.models import Organization
from service.db import utcnow
from service.errors import FieldError, NotFound, Unprocessable
from service.pagination import PageParams, fetch_page
from service.settings import get_settings
from service.webhooks.events import EventType
from service.webhooks.models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from service.webhooks.schemas import EndpointCreate


def new_secret() -> str:
    """A Standard Webhooks secret: whsec_ + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


async def emit(
    session: AsyncSession,
    event: EventType | str,
    organization_ids: Iterable[uuid.UUID],
    data: dict[str, Any],
) -> int:
    """Queue `event` for every active endpoint of these organizations that subscribed."""
    event_type = EventType(event).value
    orgs = set(organization_ids)
    if not orgs:
        return 0
    endpoints = await session.scalars(
        select(WebhookEndpoint).where(
            WebhookEndpoint.organization_id.in_(orgs),
            WebhookEndpoint.active.is_(True),
            WebhookEndpoint.events.contains([event_type]),
        )
    )
    timestamp = utcnow().isoformat()
    count = 0
    for endpoint in endpoints:
        session.add(
            WebhookMessage(
                endpoint_id=endpoint.id,
                event_type=event_type,
                payload={"type": event_type, "timestamp": timestamp, "data": data},
            )
        )
        count += 1
    await session.flush()
    return count


async def create_endpoint(
    session: AsyncSession, principal: Principal, body: EndpointCreate
) -> WebhookEndpoint:
    organization_id = body.organization_id or principal.organization_id
    exists = organization_id is not None and await session.scalar(
        select(Organization.id).where(Organization.id == organization_id)
    )
    if not exists or organization_id is None or not scope.can_write_org(principal, organization_id):
        raise NotFound(
            f"No organization with id {organization_id} is visible to you.",
            code="organization_not_found",
        )
    if body.url.startswith("http://") and not get_settings().webhook_allow_http:
        raise Unprocessable(
            "Webhook URLs must use https.",
            code="insecure_url",
            errors=[FieldError(loc=["body", "url"], msg="use https://", type="insecure_url")],
        )
    endpoint = WebhookEndpoint(
        organization_id=organization_id,
        url=body.url,
        secret=new_secret(),
        events=[e.value for e in body.events],
        description=body.description,
    )
    session.add(endpoint)
    await session.flush()
    record(session, principal, "webhook_endpoint.create", "webhook_endpoint", endpoint.id)
    return endpoint


async def get_endpoint(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID
) -> WebhookEndpoint:
    endpoint = await session.scalar(
        select(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id,
            scope.owned_by_visible_org(WebhookEndpoint.organization_id, principal),
        )
    )
    if endpoint is None:
        raise NotFound(f"No webhook endpoint with id {endpoint_id} is visible to you.")
    return endpoint


async def list_endpoints(
    session: AsyncSession, principal: Principal, pages: PageParams
) -> tuple[Sequence[WebhookEndpoint], int]:
    query = select(WebhookEndpoint).where(
        scope.owned_by_visible_org(WebhookEndpoint.organization_id, principal)
    )
    return await fetch_page(session, query, pages, WebhookEndpoint.created_at, WebhookEndpoint.id)


async def delete_endpoint(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID
) -> None:
    endpoint = await get_endpoint(session, principal, endpoint_id)
    await session.delete(endpoint)
    await session.flush()
    record(session, principal, "webhook_endpoint.delete", "webhook_endpoint", endpoint_id)


async def list_messages(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID, pages: PageParams
) -> tuple[Sequence[WebhookMessage], int, dict[uuid.UUID, list[WebhookAttempt]]]:
    """The endpoint's messages, newest first, with every delivery attempt."""
    await get_endpoint(session, principal, endpoint_id)
    query = select(WebhookMessage).where(WebhookMessage.endpoint_id == endpoint_id)
    rows, total = await fetch_page(
        session, query, pages, WebhookMessage.created_at.desc(), WebhookMessage.id
    )
    attempts: dict[uuid.UUID, list[WebhookAttempt]] = {m.id: [] for m in rows}
    if rows:
        for attempt in await session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.message_id.in_(list(attempts)))
            .order_by(WebhookAttempt.id)
        ):
            attempts[attempt.message_id].append(attempt)
    return rows, total, attempts
