"""What the audit API shows of an entry: who (the key or the person), what, when."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from service.schema_types import OutSchema


class AuditEntryOut(OutSchema):
    id: int
    occurred_at: datetime
    actor_key_id: uuid.UUID | None = Field(
        description="The API key that acted; null when a signed-in person did"
    )
    actor_subject: str | None = Field(
        description="The person who acted: their identity provider and subject, "
        '"<issuer> <sub>"; null when an API key did'
    )
    actor_name: str | None = Field(description="The person's name, as their sign-in gave it")
    actor_role: str | None
    actor_organization_id: uuid.UUID | None
    action: str = Field(description="e.g. student.read, referral.read, consent.create")
    subject_type: str
    subject_id: str
    student_id: uuid.UUID | None = Field(description="The student the entry is about")
