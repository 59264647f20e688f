"""Webhook endpoints of an organization, and their delivery log."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from service.auth.principal import Principal, require_roles
from service.auth.roles import Role
from service.db import SessionDep
from service.errors import problem_responses
from service.pagination import Page, PageParams, page_params
from service.webhooks import service
from service.webhooks.delivery import next_attempt_at
from service.webhooks.events import EventType
from service.webhooks.schemas import (
    AttemptOut,
    EndpointCreate,
    EndpointCreated,
    EndpointOut,
    EndpointUpdate,
    MessageOut,
)

router = APIRouter(tags=["webhooks"])
Owner = Annotated[Principal, require_roles(Role.provider, Role.school, Role.admin)]


@router.post(
    "/webhook-endpoints",
    operation_id="webhooks_create",
    status_code=status.HTTP_201_CREATED,
    summary="Register a webhook endpoint (the signing secret is in this response only)",
    responses=problem_responses(401, 403, 404, 422),
)
async def webhooks_create(
    session: SessionDep, principal: Owner, body: EndpointCreate
) -> EndpointCreated:
    """Registers an endpoint that receives the chosen event types for an organization and returns it
    with its signing secret, shown in this response only: store it to verify each delivery's
    `webhook-signature` (Standard Webhooks). Provider and school keys register for their own
    organization; admins must give `organization_id`, and an organization you may not write to
    answers 404. The URL must use https and resolve to public addresses only (422 otherwise).
    """
    endpoint, secret = await service.create_endpoint(session, principal, body)
    return EndpointCreated.model_validate(
        {**EndpointOut.model_validate(endpoint).model_dump(), "secret": secret}
    )


@router.patch(
    "/webhook-endpoints/{endpoint_id}",
    operation_id="webhooks_update",
    summary="Change a webhook endpoint, or pause and resume it (active)",
    responses=problem_responses(401, 403, 404, 422),
)
async def webhooks_update(
    session: SessionDep, principal: Owner, endpoint_id: uuid.UUID, body: EndpointUpdate
) -> EndpointOut:
    """Changes only the fields present (url, events, description, active) and returns the endpoint;
    provider and school keys change only their own organization's endpoints (others answer 404, not
    403), admins any. Setting `active` to false pauses it: no events are queued for it meanwhile,
    and messages already queued wait until it is active again. `url`, `events` and `active` cannot
    be null, and a new URL is checked as on registration (422).
    """
    endpoint = await service.update_endpoint(session, principal, endpoint_id, body)
    return EndpointOut.model_validate(endpoint)


@router.get(
    "/webhook-endpoints",
    operation_id="webhooks_list",
    summary="Your organization's webhook endpoints",
    responses=problem_responses(401, 403),
)
async def webhooks_list(
    session: SessionDep, principal: Owner, pages: Annotated[PageParams, Depends(page_params)]
) -> Page[EndpointOut]:
    """Returns a page of webhook endpoints, oldest first, without their signing secrets. Provider
    and school keys see their own organization's endpoints; admins see every organization's.
    """
    rows, total = await service.list_endpoints(session, principal, pages)
    return Page[EndpointOut].build([EndpointOut.model_validate(r) for r in rows], total, pages)


@router.delete(
    "/webhook-endpoints/{endpoint_id}",
    operation_id="webhooks_delete",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a webhook endpoint (undelivered messages to it are dropped)",
    responses=problem_responses(401, 403, 404),
)
async def webhooks_delete(
    session: SessionDep, principal: Owner, endpoint_id: uuid.UUID
) -> Response:
    """Deletes the endpoint together with its messages and their delivery log; messages not yet
    delivered are never sent. Provider and school keys delete only their own organization's
    endpoints (others answer 404, not 403); admins any.
    """
    await service.delete_endpoint(session, principal, endpoint_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/webhook-endpoints/{endpoint_id}/messages",
    operation_id="webhooks_messages",
    summary="Messages to an endpoint, newest first, with every delivery attempt",
    responses=problem_responses(401, 403, 404),
)
async def webhooks_messages(
    session: SessionDep,
    principal: Owner,
    endpoint_id: uuid.UUID,
    pages: Annotated[PageParams, Depends(page_params)],
) -> Page[MessageOut]:
    """Returns a page of the messages queued for the endpoint, newest first, each with its delivery
    state and every attempt (time, HTTP status, error, duration). A failed delivery is retried with
    backoff from 30 seconds up to 6 hours until it succeeds or is given up (`failed_at`);
    `next_attempt_at` is null once either happens. Provider and school keys see only their own
    organization's endpoints (others answer 404, not 403); admins any.
    """
    rows, total, attempts = await service.list_messages(session, principal, endpoint_id, pages)
    out = [
        MessageOut(
            id=m.id,
            event_type=EventType(m.event_type),
            payload=m.payload,
            created_at=m.created_at,
            attempts=m.attempts,
            delivered_at=m.delivered_at,
            failed_at=m.failed_at,
            next_attempt_at=next_attempt_at(m),
            last_status=m.last_status,
            log=[AttemptOut.model_validate(a) for a in attempts[m.id]],
        )
        for m in rows
    ]
    return Page[MessageOut].build(out, total, pages)
