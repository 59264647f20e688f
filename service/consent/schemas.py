"""Consent API contract."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from service.catalog.enums import Category
from service.consent.enums import DataElement, SignatureMethod, Signer
from service.local_time import today as local_today
from service.schema_types import NO_NUL, Day, LongText, OutSchema, Schema


class ConsentState(StrEnum):
    active = "active"
    not_yet_valid = "not_yet_valid"
    expired = "expired"
    revoked = "revoked"


class ConsentCreate(Schema):
    signer: Signer = Field(description="guardian, or student when the student is 18 or older")
    signer_name: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=NO_NUL)]
    signature_method: SignatureMethod
    evidence_ref: Annotated[
        str, StringConstraints(min_length=1, max_length=500, pattern=NO_NUL)
    ] = Field(description="Where the signed form or e-signature record is kept")
    signed_on: Day
    purpose: Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=NO_NUL)]
    recipient_organization_ids: list[uuid.UUID] = Field(default=[], max_length=50)
    recipient_categories: list[Category] = Field(
        default=[],
        max_length=len(Category),
        description="A class of parties: every provider of these categories",
    )
    data_elements: list[DataElement] = Field(min_length=1, max_length=len(DataElement))
    expires_on: Day

    @model_validator(mode="after")
    def _coherent(self) -> ConsentCreate:
        if not self.recipient_organization_ids and not self.recipient_categories:
            raise ValueError("name recipients: recipient_organization_ids or recipient_categories")
        if self.signed_on > local_today():
            raise ValueError("signed_on is in the future")
        if self.expires_on <= self.signed_on:
            raise ValueError("expires_on must be after signed_on")
        if self.expires_on < local_today():
            raise ValueError("expires_on has passed")
        for name in ("recipient_organization_ids", "recipient_categories", "data_elements"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ValueError(f"{name} lists a value twice")
        return self


class ConsentRevoke(Schema):
    note: LongText | None = Field(default=None, description="Why, as the family said it")


class ConsentOut(OutSchema):
    id: uuid.UUID
    student_id: uuid.UUID
    school_id: uuid.UUID
    state: ConsentState
    signer: Signer
    signer_name: str | None = Field(description="null once purged under the retention rule")
    signature_method: SignatureMethod
    evidence_ref: str
    signed_on: date
    purpose: str
    recipient_organization_ids: list[uuid.UUID]
    recipient_categories: list[Category]
    data_elements: list[DataElement]
    expires_on: date
    revoked_at: datetime | None
    revoked_by_organization_id: uuid.UUID | None
    revocation_note: str | None
    created_at: datetime
