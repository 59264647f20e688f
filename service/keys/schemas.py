"""API key management contract."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from service.auth.roles import Role
from service.schema_types import Name, OutSchema, Schema


class KeyCreate(Schema):
    name: Name = Field(description="What the key is for, e.g. 'Harbor Lights front desk'")
    role: Role
    organization_id: uuid.UUID | None = Field(
        default=None, description="Required for every role except admin"
    )


class KeyOut(OutSchema):
    id: uuid.UUID
    prefix: str = Field(description="Visible start of the key, to tell keys apart")
    name: str
    role: Role
    organization_id: uuid.UUID | None
    created_at: datetime
    last_used_at: datetime | None = Field(description="Last request with the key (to the minute)")
    revoked_at: datetime | None


class KeyCreated(KeyOut):
    key: str = Field(description="The whole key. Shown once: store it now.")
