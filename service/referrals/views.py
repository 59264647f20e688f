"""What each side sees of a referral: functions from rows to ReferralOut.

The student's sealed personal fields are opened only when the contact element is disclosed.

The school that referred sees the whole student record. The provider sees the data
elements the referral shares AND an active consent allows; once the consent is revoked or
has expired, nothing about the student, on any referral under it.

Why nothing, even on a referral the provider already served (the FERPA decision): every
read through the API is a new disclosure of education records by the school, and after
the consent ends the school has no basis for one (34 CFR 99.30). What the provider
received while the consent was active it may keep, bound by 99.33(a) (used only for the
purpose consented, not redisclosed); the API does not pretend to claw it back. So the
provider keeps what is its own or identifies no student: the referral's status, dates
and outcome, the program, its own timeline notes and messages, and `consent_state`
saying why the rest is withheld. The school's notes and messages are withheld with the
student's records (they are the school's records too).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from pydantic.dataclasses import dataclass as typed_dataclass

from service.catalog.enums import Grade
from service.consent import rules
from service.consent.enums import DataElement
from service.consent.models import Consent
from service.consent.schemas import ConsentState
from service.referrals.enums import MessageKind
from service.referrals.models import Referral, ReferralEvent, ReferralMessage
from service.referrals.schemas import EventOut, MessageOut, ProgramRef, ReferralOut, StudentView
from service.referrals.states import AWAITING_RESPONSE, Reason, Side, Status, offered
from service.sealing.keyring import Keyring, keyring
from service.sealing.records import open_record, seal_record
from service.students.models import Student
from service.students.pii import PII_FIELDS, open_student

ELEMENT_FIELDS: dict[DataElement, tuple[str, ...]] = {
    DataElement.contact: (
        "first_name",
        "last_name",
        "date_of_birth",
        "preferred_language",
        "guardian_name",
        "guardian_relationship",
        "guardian_phone",
        "guardian_email",
    ),
    DataElement.demographics: (
        "gender",
        "races",
        "hispanic_latino",
        "home_language",
        "english_learner",
        "iep",
        "section_504",
    ),
    DataElement.school_and_grade: ("school_name", "grade"),
    DataElement.referral_reason: (),
    DataElement.notes: (),
}


@typed_dataclass(frozen=True)
class Event:
    """One step of a referral's timeline, as its views read it."""

    occurred_at: datetime
    version: int
    side: Side
    actor_organization_id: uuid.UUID | None
    actor_name: str | None
    from_status: Status | None
    to_status: Status
    reason: Reason | None
    note: str | None

    @classmethod
    def of(cls, event: ReferralEvent) -> Event:
        return cls(
            occurred_at=event.occurred_at,
            version=event.version,
            side=event.side,
            actor_organization_id=event.actor_organization_id,
            actor_name=event.actor_name,
            from_status=event.from_status,
            to_status=event.to_status,
            reason=event.reason,
            note=event.note,
        )


@typed_dataclass(frozen=True)
class Message:
    """A message on a referral as its views read it; `sealed` is the base64 of its sealed
    text and attachment (opened only for a viewer who may read them)."""

    id: uuid.UUID
    referral_id: uuid.UUID
    posted_at: datetime
    side: Side
    kind: MessageKind
    in_reply_to: uuid.UUID | None
    answered_at: datetime | None
    referral_version: int
    sealed: str | None
    pii_key_id: str | None
    actor_organization_id: uuid.UUID | None
    actor_name: str | None

    @classmethod
    def of(cls, m: ReferralMessage) -> Message:
        return cls(
            id=m.id,
            referral_id=m.referral_id,
            posted_at=m.posted_at,
            side=m.side,
            kind=m.kind,
            in_reply_to=m.in_reply_to,
            answered_at=m.answered_at,
            referral_version=m.referral_version,
            sealed=base64.b64encode(m.pii).decode() if m.pii is not None else None,
            pii_key_id=m.pii_key_id,
            actor_organization_id=m.actor_organization_id,
            actor_name=m.actor_name,
        )


@dataclass(frozen=True)
class ReferralRows:
    """A referral with what its views need."""

    referral: Referral
    student: Student
    consent: Consent
    program_name: str
    school_name: str
    events: Sequence[Event]
    messages: Sequence[Message] = ()
    program_seats: int | None = None  # the program's free seats (None: not counted)


def disclosed(referral: Referral, consent: Consent, viewer: Side, today: date) -> list[DataElement]:
    """The data elements `viewer` may see on this referral today."""
    shared = [DataElement(e) for e in referral.shared_elements]
    if viewer is Side.school:
        return list(DataElement)
    if rules.state(consent, today) is not ConsentState.active:
        return []
    return [e for e in shared if e.value in consent.data_elements]


def student_view(rows: ReferralRows, elements: list[DataElement], viewer: Side) -> StudentView:
    s = rows.student
    pii = open_student(keyring(), s) if DataElement.contact in elements else None
    values: dict[str, object] = {
        **(asdict(pii) if pii else dict.fromkeys(PII_FIELDS)),
        "preferred_language": s.preferred_language,
        "guardian_relationship": s.guardian_relationship,
        "school_name": rows.school_name,
        "grade": Grade.from_rank(s.grade),
        "gender": s.gender,
        "races": s.races,
        "hispanic_latino": s.hispanic_latino,
        "home_language": s.home_language,
        "english_learner": s.english_learner,
        "iep": s.iep,
        "section_504": s.section_504,
    }
    shown = {f: values[f] for e in elements for f in ELEMENT_FIELDS[e]}
    return StudentView(
        disclosed=elements,
        id=s.id if viewer is Side.school else None,
        **shown,
    )


MESSAGES_TABLE = "referral_messages"


def seal_message(ring: Keyring, message: ReferralMessage, text: str, link: str | None) -> None:
    message.pii_key_id, message.pii = seal_record(
        ring, MESSAGES_TABLE, message.id, {"text": text, "attachment_url": link}
    )


def message_out(m: Message, viewer: Side, school_notes_shown: bool) -> MessageOut:
    """The message as `viewer` sees it: a provider reads the school's messages only while
    the consent covers notes (`school_notes_shown`); its own, always."""
    redacted = viewer is Side.provider and m.side is Side.school and not school_notes_shown
    opened: dict[str, Any] = {}
    if not redacted and m.sealed is not None and m.pii_key_id is not None:
        sealed = base64.b64decode(m.sealed)
        opened = open_record(keyring(), MESSAGES_TABLE, m.id, m.pii_key_id, sealed)
    return MessageOut(
        id=m.id,
        referral_id=m.referral_id,
        kind=m.kind,
        side=m.side,
        posted_at=m.posted_at,
        version=m.referral_version,
        in_reply_to=m.in_reply_to,
        answered_at=m.answered_at,
        author_organization_id=m.actor_organization_id,
        author_name=m.actor_name,
        text=opened.get("text"),
        attachment_url=opened.get("attachment_url"),
        redacted=redacted,
        purged=m.sealed is None,
    )


def school_notes_shown(rows: ReferralRows, viewer: Side, today: date) -> bool:
    """Whether `viewer` reads the school's notes and messages on this referral today."""
    return _notes_in(disclosed(rows.referral, rows.consent, viewer, today), viewer)


def _notes_in(elements: list[DataElement], viewer: Side) -> bool:
    return viewer is Side.school or DataElement.notes in elements


def _timeline(rows: ReferralRows, viewer: Side, notes_shown: bool) -> list[EventOut]:
    moves = [
        EventOut(
            occurred_at=e.occurred_at,
            version=e.version,
            side=e.side,
            actor_organization_id=e.actor_organization_id,
            actor_name=e.actor_name,
            from_status=e.from_status,
            to_status=e.to_status,
            reason=e.reason,
            note=e.note if (e.side is not Side.school or notes_shown) else None,
        )
        for e in rows.events
    ]
    posted = [
        EventOut(
            type="message",
            occurred_at=m.posted_at,
            version=m.referral_version,
            side=m.side,
            actor_organization_id=m.actor_organization_id,
            actor_name=m.actor_name,
            from_status=None,
            to_status=None,
            reason=None,
            note=None,
            message=message_out(m, viewer, notes_shown),
        )
        for m in rows.messages
    ]
    # Stable: a move and a message at the same version keep the move first.
    return sorted([*moves, *posted], key=lambda e: (e.version, e.type != "status", e.occurred_at))


def awaiting_information(messages: Sequence[Message]) -> bool:
    return any(
        m.kind is MessageKind.information_request and m.answered_at is None for m in messages
    )


def moves(rows: ReferralRows, acting: Side | None, today: date) -> list[Status]:
    """The moves the caller can make now: the state machine's offer (states.offered),
    less what the rules around it refuse today: a provider has none once the consent
    ended (409 consent_ended), and no enrolment without a free seat (409
    no_seat_available)."""
    if acting is None:
        return []
    r = rows.referral
    if acting is Side.provider and rules.state(rows.consent, today) is not ConsentState.active:
        return []
    offer = offered(r.status, acting)
    if rows.program_seats == 0 and not r.seat_held:
        offer = [s for s in offer if s is not Status.enrolled]
    return offer


def overdue(referral: Referral, now: datetime) -> tuple[bool, bool]:
    """(first response overdue, first contact overdue)."""
    return (
        referral.status in AWAITING_RESPONSE and now > referral.response_due_at,
        referral.status is Status.accepted and now > referral.contact_due_at,
    )


def referral_out(
    rows: ReferralRows, viewer: Side, acting: Side | None, now: datetime, today: date
) -> ReferralOut:
    """The referral as `viewer` sees it; `acting` is the side the caller acts for (None:
    an admin, who reads like the school but moves nothing)."""
    r = rows.referral
    elements = disclosed(r, rows.consent, viewer, today)
    show_reason = DataElement.referral_reason in elements
    show_school_notes = _notes_in(elements, viewer)
    response_overdue, contact_overdue = overdue(r, now)
    return ReferralOut(
        id=r.id,
        status=r.status,
        status_reason=r.status_reason,
        fhir_task_status=r.status.fhir_task_status,
        closed=r.status.is_closed,
        urgency=r.urgency,
        need=r.need if show_reason else None,
        need_text=r.need_text if show_reason else None,
        program=ProgramRef(id=r.program_id, name=rows.program_name),
        provider_id=r.provider_id,
        school_id=r.school_id,
        consent_id=r.consent_id if viewer is Side.school else None,
        consent_state=rules.state(rows.consent, today),
        shared_elements=[DataElement(e) for e in r.shared_elements],
        student=student_view(rows, elements, viewer),
        sent_at=r.sent_at,
        received_at=r.received_at,
        responded_at=r.responded_at,
        contacted_at=r.contacted_at,
        enrolled_at=r.enrolled_at,
        closed_at=r.closed_at,
        response_due_at=r.response_due_at,
        contact_due_at=r.contact_due_at,
        response_overdue=response_overdue,
        contact_overdue=contact_overdue,
        waitlisted=r.waitlisted,
        next_statuses=moves(rows, acting, today),
        version=r.version,
        awaiting_information=awaiting_information(rows.messages),
        timeline=_timeline(rows, viewer, show_school_notes),
    )
