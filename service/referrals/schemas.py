"""Referral API contract. What a provider sees of a student depends on the consent."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, Field

from service.catalog.enums import Grade
from service.consent.enums import DataElement
from service.consent.schemas import ConsentState
from service.referrals.enums import Need, Urgency
from service.referrals.states import Reason, Side, Status
from service.schema_types import LongText, Schema
from service.students.enums import Gender, Race, Relationship

DEFAULT_SHARED = [DataElement.contact, DataElement.school_and_grade, DataElement.referral_reason]


class ReferralCreate(Schema):
    student_id: uuid.UUID
    program_id: uuid.UUID
    need: Need = Field(description="The coded reason for the referral")
    need_text: LongText | None = Field(
        default=None, description="The need, in the counselor's words"
    )
    urgency: Urgency = Urgency.routine
    shared_elements: list[DataElement] = Field(
        default=DEFAULT_SHARED,  # pydantic copies a mutable default for each instance
        min_length=1,
        max_length=len(DataElement),
        description="Records sent to the provider; an active consent must cover all of them",
    )


class TransitionCreate(Schema):
    to: Status
    reason: Reason | None = Field(
        default=None, description="Required for declined and not_completed"
    )
    note: LongText | None = None


class StudentView(BaseModel):
    """The student as this caller may see them: the school sees everything; a provider sees
    the elements in `disclosed` (what the referral shares and an active consent allows)."""

    disclosed: list[DataElement]
    id: uuid.UUID | None = Field(default=None, description="The school's view only")
    first_name: str | None = None
    last_name: str | None = None
    date_of_birth: date | None = None
    preferred_language: str | None = None
    guardian_name: str | None = None
    guardian_relationship: Relationship | None = None
    guardian_phone: str | None = None
    guardian_email: str | None = None
    school_name: str | None = None
    grade: Grade | None = None
    gender: Gender | None = None
    races: list[Race] | None = None
    hispanic_latino: bool | None = None
    home_language: str | None = None
    english_learner: bool | None = None
    iep: bool | None = None
    section_504: bool | None = None


class EventOut(BaseModel):
    occurred_at: datetime
    version: int = Field(
        description="The referral's version after this move: order events by it, not by time"
    )
    side: Side
    actor_organization_id: uuid.UUID | None
    actor_name: str | None = Field(
        description="The person who made the move, when signed in (null for keys, the system)"
    )
    from_status: Status | None
    to_status: Status
    reason: Reason | None
    note: str | None = Field(description="Hidden from the provider unless the consent covers notes")


class ProgramRef(BaseModel):
    id: uuid.UUID
    name: str


class ReferralOut(BaseModel):
    id: uuid.UUID
    status: Status
    status_reason: Reason | None
    fhir_task_status: str = Field(description="HL7 FHIR Task.status of this status")
    closed: bool
    urgency: Urgency
    need: Need | None = Field(description="Null for a provider when referral_reason is not shared")
    need_text: str | None
    program: ProgramRef
    provider_id: uuid.UUID
    school_id: uuid.UUID
    consent_id: uuid.UUID | None = Field(description="The school's view only")
    consent_state: ConsentState = Field(
        description="The consent it was made under, today: unless active, a provider sees "
        "no student data (and the worker cancels the referral if it is open)"
    )
    shared_elements: list[DataElement]
    student: StudentView
    sent_at: datetime
    received_at: datetime | None
    responded_at: datetime | None
    contacted_at: datetime | None
    enrolled_at: datetime | None
    closed_at: datetime | None
    response_due_at: datetime
    contact_due_at: datetime
    response_overdue: bool
    contact_overdue: bool
    waitlisted: bool = Field(
        description="Sent while the program had no free seat (it keeps a waitlist); "
        "enrolling waits for a seat"
    )
    next_statuses: list[Status] = Field(description="Where you may move it now")
    version: int
    timeline: list[EventOut]
