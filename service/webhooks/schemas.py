"""Webhook API contract."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from service.schema_types import Flag, OutSchema, Schema, ShortText, UrlText
from service.webhooks.events import EventType


class EndpointCreate(Schema):
    url: UrlText = Field(description="Where to POST events (https; http only when allowed)")
    events: list[EventType] = Field(
        min_length=1, max_length=len(EventType), description="Event types to receive"
    )
    description: ShortText | None = None
    organization_id: uuid.UUID | None = Field(
        default=None, description="Admins: the organization; others get their own"
    )


class EndpointUpdate(Schema):
    """Only the fields present change. active=false pauses deliveries (events meanwhile are
    not queued); active=true resumes them."""

    url: UrlText | None = None
    events: list[EventType] | None = Field(default=None, min_length=1, max_length=len(EventType))
    description: ShortText | None = None
    active: Flag | None = None


class EndpointOut(OutSchema):
    id: uuid.UUID
    organization_id: uuid.UUID
    url: str
    events: list[EventType]
    description: str | None
    active: bool
    created_at: datetime


class EndpointCreated(EndpointOut):
    secret: str = Field(
        description="The signing secret (whsec_...), shown in this response only. Verify each "
        "delivery's webhook-signature with it (Standard Webhooks)."
    )


class AttemptOut(OutSchema):
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class MessageOut(OutSchema):
    id: uuid.UUID = Field(description="Sent as the webhook-id header")
    event_type: EventType
    payload: dict[str, Any]
    created_at: datetime
    attempts: int
    delivered_at: datetime | None
    failed_at: datetime | None
    next_attempt_at: datetime | None
    last_status: int | None
    log: list[AttemptOut]
