"""Referral API contract. What a provider sees of a student depends on the consent."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from service.catalog.enums import Grade
from service.consent.enums import DataElement
from service.consent.schemas import ConsentState
from service.referrals.enums import MessageKind, Need, Urgency
from service.referrals.states import Reason, Side, Status
from service.schema_types import NO_NUL, LongText, Schema, UrlText
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


class MessageCreate(Schema):
    kind: MessageKind = Field(
        default=MessageKind.message,
        description="information_request: the provider asks the school for something; "
        "information_response: the school answers one (name it in in_reply_to)",
    )
    text: Annotated[str, StringConstraints(min_length=1, max_length=5000, pattern=NO_NUL)]
    attachment_url: UrlText | None = Field(
        default=None,
        description="A link to a document kept elsewhere (the partner's file store); "
        "Youthlink stores the link, never the file",
    )
    in_reply_to: uuid.UUID | None = Field(
        default=None, description="The information_request an information_response answers"
    )

    @model_validator(mode="after")
    def _reply_names_its_request(self) -> MessageCreate:
        answers = self.kind is MessageKind.information_response
        if answers and self.in_reply_to is None:
            raise ValueError("an information_response names the request in in_reply_to")
        if not answers and self.in_reply_to is not None:
            raise ValueError("only an information_response has in_reply_to")
        return self


class MessageOut(BaseModel):
    id: uuid.UUID
    referral_id: uuid.UUID
    kind: MessageKind
    side: Side
    posted_at: datetime
    version: int = Field(description="The referral's version when it was posted")
    in_reply_to: uuid.UUID | None
    answered_at: datetime | None = Field(description="When the school answered this request")
    author_organization_id: uuid.UUID | None
    author_name: str | None = Field(description="The person who posted it, when signed in")
    text: str | None = Field(description="Null when redacted (see `redacted`) or purged")
    attachment_url: str | None
    redacted: bool = Field(
        description="The school's message, withheld from the provider: the consent does not "
        "(or no longer does) cover notes"
    )
    purged: bool = Field(description="Erased under the retention rule")


class EventOut(BaseModel):
    type: Literal["status", "message"] = Field(
        default="status", description="A move of the referral, or a message posted on it"
    )
    occurred_at: datetime
    version: int = Field(
        description="The referral's version after this move (a message: when posted); "
        "order status events by it, not by time"
    )
    side: Side
    actor_organization_id: uuid.UUID | None
    actor_name: str | None = Field(
        description="The person who made the move, when signed in (null for keys, the system)"
    )
    from_status: Status | None
    to_status: Status | None = Field(description="Null for a message")
    reason: Reason | None
    note: str | None = Field(description="Hidden from the provider unless the consent covers notes")
    message: MessageOut | None = Field(default=None, description="The message, for type message")


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
    awaiting_information: bool = Field(
        description="The provider asked the school for information not yet given"
    )
    waitlisted: bool = Field(
        description="Sent while the program had no free seat (it keeps a waitlist); "
        "enrolling waits for a seat"
    )
    next_statuses: list[Status] = Field(description="Where you may move it now")
    version: int
    timeline: list[EventOut]
