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

import orjson
from sqlalchemy import (
    ColumnElement,
    Insert,
    String,
    Uuid,
    any_,
    func,
    insert,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit.service import record
from service.auth import scope
from service.auth.principal import Principal
from service.catalog.models import Organization
from service.db import rfc3339, utcnow
from service.errors import FieldError, NotFound, Unprocessable
from service.pagination import PageParams, fetch_page
from service.reader import Reader, compile_statement, param
from service.sealing.keyring import Keyring, keyring
from service.settings import get_settings
from service.webhooks.destinations import destination_refusal
from service.webhooks.events import EventType
from service.webhooks.models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from service.webhooks.schemas import EndpointCreate, EndpointUpdate


def new_secret() -> str:
    """A Standard Webhooks secret: whsec_ + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_context(endpoint_id: uuid.UUID) -> bytes:
    """Binds a sealed signing secret to its endpoint (also used by migration 0006)."""
    return b"webhook_endpoints.secret:" + endpoint_id.bytes


def seal_secret(ring: Keyring, endpoint: WebhookEndpoint, secret: str) -> None:
    """Store the signing secret sealed: a database dump alone cannot forge deliveries."""
    endpoint.secret_key_id, endpoint.secret_sealed = ring.seal(
        secret.encode(), secret_context(endpoint.id)
    )


def open_secret(ring: Keyring, endpoint_id: uuid.UUID, key_id: str, sealed: bytes) -> str:
    return ring.open(key_id, sealed, secret_context(endpoint_id)).decode()


async def _check_url(url: str, field: str = "url") -> None:
    settings = get_settings()
    if url.startswith("http://") and not settings.webhook_allow_http:
        raise Unprocessable(
            "Webhook URLs must use https.",
            code="insecure_url",
            errors=[FieldError(loc=["body", field], msg="use https://", type="insecure_url")],
        )
    why = await destination_refusal(url, settings.webhook_allow_private_networks)
    if why is not None:
        raise Unprocessable(
            f"Webhooks cannot be sent to this URL: {why}.",
            code="forbidden_destination",
            errors=[FieldError(loc=["body", field], msg=why, type="forbidden_destination")],
        )


def queued(when: ColumnElement[bool] | None = None, prefix: str = "") -> Insert:
    """A message per active endpoint of the organizations that subscribed to the event,
    in one statement that loads no endpoint; its values are `queue_values(...)`. Run
    alone (`emit`) or joined to the write that made the event (referrals/writes.py); with
    `when`, only if that holds. Several joined to one statement take a `prefix` each."""
    endpoints = WebhookEndpoint.__table__.c
    subscribed = select(
        func.gen_random_uuid(),
        endpoints.id,
        param(f"{prefix}event_type", String),
        param(f"{prefix}payload", JSONB),
        literal_column("0"),
    ).where(
        endpoints.organization_id == any_(param(f"{prefix}organizations", ARRAY(Uuid))),
        endpoints.active.is_(True),
        endpoints.events.contains(param(f"{prefix}subscribed", ARRAY(String))),
    )
    if when is not None:
        subscribed = subscribed.where(when)
    columns = ["id", "endpoint_id", "event_type", "payload", "attempts"]
    return insert(WebhookMessage).from_select(columns, subscribed)


def queue_values(
    event: EventType | str,
    organization_ids: Iterable[uuid.UUID],
    data: dict[str, Any],
    prefix: str = "",
) -> dict[str, Any]:
    """The run-time values of `queued(prefix=prefix)`: the event, to these organizations'
    endpoints."""
    event_type = EventType(event).value
    payload = {"type": event_type, "timestamp": rfc3339(utcnow()), "data": data}
    return {
        f"{prefix}event_type": event_type,
        f"{prefix}payload": orjson.dumps(payload).decode(),  # the driver takes JSON text
        f"{prefix}organizations": list(set(organization_ids)),
        f"{prefix}subscribed": [event_type],
    }


# Compiled once (service/reader.py).
_OUTBOX = compile_statement(queued().returning(WebhookMessage.id))


async def emit(
    session: AsyncSession,
    event: EventType | str,
    organization_ids: Iterable[uuid.UUID],
    data: dict[str, Any],
) -> int:
    """Queue `event` for every active endpoint of these organizations that subscribed;
    how many messages were queued."""
    values = queue_values(event, organization_ids, data)
    if not values["organizations"]:
        return 0
    return len(await Reader(session=session).fetch(_OUTBOX, **values))


async def create_endpoint(
    session: AsyncSession, principal: Principal, body: EndpointCreate
) -> tuple[WebhookEndpoint, str]:
    """The new endpoint and its signing secret, which only this response shows."""
    organization_id = body.organization_id or principal.organization_id
    exists = organization_id is not None and await session.scalar(
        select(Organization.id).where(Organization.id == organization_id)
    )
    if not exists or organization_id is None or not scope.can_write_org(principal, organization_id):
        raise NotFound(
            f"No organization with id {organization_id} is visible to you.",
            code="organization_not_found",
        )
    await _check_url(body.url)
    endpoint = WebhookEndpoint(
        id=uuid.uuid4(),
        organization_id=organization_id,
        url=body.url,
        events=[e.value for e in body.events],
        description=body.description,
    )
    secret = new_secret()
    seal_secret(keyring(), endpoint, secret)
    session.add(endpoint)
    await session.flush()
    await record(session, principal, "webhook_endpoint.create", "webhook_endpoint", endpoint.id)
    return endpoint, secret


async def update_endpoint(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID, body: EndpointUpdate
) -> WebhookEndpoint:
    """Change the URL, events or description, or pause (active=false) and resume."""
    endpoint = await get_endpoint(session, principal, endpoint_id, for_update=True)
    fields = body.model_fields_set
    for name in {"url", "events", "active"} & fields:
        if getattr(body, name) is None:
            raise Unprocessable(
                f"{name} cannot be cleared.",
                errors=[FieldError(loc=["body", name], msg="must not be null", type="required")],
            )
    if "url" in fields and body.url is not None:
        await _check_url(body.url)
        endpoint.url = body.url
    if "events" in fields and body.events is not None:
        endpoint.events = [e.value for e in body.events]
    if "description" in fields:
        endpoint.description = body.description
    if "active" in fields and body.active is not None:
        endpoint.active = body.active
    await session.flush()
    await record(session, principal, "webhook_endpoint.update", "webhook_endpoint", endpoint.id)
    return endpoint


async def get_endpoint(
    session: AsyncSession,
    principal: Principal,
    endpoint_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> WebhookEndpoint:
    endpoint = await scope.get_readable(
        session,
        WebhookEndpoint,
        endpoint_id,
        principal,
        what="webhook endpoint",
        for_update=for_update,
        refresh=for_update,
    )
    return endpoint


async def list_endpoints(
    session: AsyncSession, principal: Principal, pages: PageParams
) -> tuple[Sequence[WebhookEndpoint], int]:
    query = select(WebhookEndpoint).where(scope.readable(WebhookEndpoint, principal))
    return await fetch_page(session, query, pages, WebhookEndpoint.created_at, WebhookEndpoint.id)


async def delete_endpoint(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID
) -> None:
    endpoint = await get_endpoint(session, principal, endpoint_id)
    await session.delete(endpoint)
    await session.flush()
    await record(session, principal, "webhook_endpoint.delete", "webhook_endpoint", endpoint_id)


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
