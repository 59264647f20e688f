"""Messages on a referral: the school and the provider talk, and the provider asks for
what it needs ("need more information"), answered by the school.

A message is posted by one side of an open referral, sealed at rest (its text and
attachment link, like a student's personal fields), put in the timeline, audited, and
announced by a `referral.message_posted` webhook (ids only) to both sides. Posting does
not change the referral's version: a message is not a move, and a transition sent with
an ETag read before the message still applies. What a provider may read of the school's
messages follows the consent's `notes` element (views.message_out).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit.service import record
from service.auth.principal import Principal
from service.db import rfc3339, utcnow
from service.errors import Conflict, FieldError, Forbidden, Unprocessable
from service.reader import Reader
from service.referrals import reading
from service.referrals.enums import MessageKind
from service.referrals.models import ReferralMessage
from service.referrals.reading import side_of
from service.referrals.schemas import MessageCreate
from service.referrals.service import receive_on_first_read, refuse_when_consent_ended
from service.referrals.states import Side
from service.referrals.views import Message, ReferralRows, seal_message
from service.sealing.keyring import keyring
from service.webhooks.events import EventType
from service.webhooks.service import emit

# Who may post what: a request for information is the provider's, its answer the school's.
_KINDS: dict[MessageKind, frozenset[Side]] = {
    MessageKind.message: frozenset({Side.school, Side.provider}),
    MessageKind.information_request: frozenset({Side.provider}),
    MessageKind.information_response: frozenset({Side.school}),
}


def _side(principal: Principal, rows: ReferralRows) -> Side:
    side = side_of(principal, rows.referral)
    if side is None:
        raise Forbidden(
            "Messages on a referral are between its school and its provider.",
            code="message_not_permitted",
        )
    return side


async def _answer(session: AsyncSession, referral_id: uuid.UUID, request_id: uuid.UUID) -> None:
    """Mark the request answered, once: of two answers at once, one wins."""
    answered = await session.scalar(
        update(ReferralMessage)
        .where(
            ReferralMessage.id == request_id,
            ReferralMessage.referral_id == referral_id,
            ReferralMessage.kind == MessageKind.information_request,
            ReferralMessage.answered_at.is_(None),
        )
        .values(answered_at=utcnow())
        .returning(ReferralMessage.id)
        .execution_options(synchronize_session=False)
    )
    if answered is not None:
        return
    answered_before = await session.scalar(
        select(ReferralMessage.answered_at).where(
            ReferralMessage.id == request_id,
            ReferralMessage.referral_id == referral_id,
            ReferralMessage.kind == MessageKind.information_request,
        )
    )
    if answered_before is not None:
        raise Conflict(
            "This request for information was already answered.", code="already_answered"
        )
    raise Unprocessable(
        f"No request for information {request_id} on this referral.",
        code="unknown_reference",
        errors=[
            FieldError(loc=["body", "in_reply_to"], msg="no such request", type="unknown_reference")
        ],
    )


async def post_message(
    session: AsyncSession, principal: Principal, referral_id: uuid.UUID, body: MessageCreate
) -> Message:
    """The message posted, as its views read it."""
    rows = await reading.one(Reader(session=session), principal, referral_id)
    side = _side(principal, rows)
    if side not in _KINDS[body.kind]:
        who = " and ".join(sorted(s.value for s in _KINDS[body.kind]))
        raise Forbidden(
            f"Only the {who} side posts a {body.kind.value}.", code="message_not_permitted"
        )
    referral = rows.referral
    if referral.status.is_closed:
        raise Conflict(
            f"This referral is {referral.status.value}: its thread is closed.",
            code="referral_closed",
        )
    if side is Side.provider:
        refuse_when_consent_ended(rows.consent)
        # answering is reading
        rows = await receive_on_first_read(Reader(session=session), principal, rows)
        referral = rows.referral
    if body.in_reply_to is not None:
        await _answer(session, referral.id, body.in_reply_to)
    now = utcnow()
    message = ReferralMessage(
        id=uuid.uuid4(),
        referral_id=referral.id,
        posted_at=now,
        side=side,
        kind=body.kind,
        in_reply_to=body.in_reply_to,
        referral_version=referral.version,
        actor_organization_id=principal.organization_id,
        actor_key_id=principal.key_id,
        actor_subject=principal.subject,
        actor_name=principal.display_name,
    )
    seal_message(keyring(), message, body.text, body.attachment_url)
    session.add(message)
    await session.flush()
    await record(
        session,
        principal,
        f"referral.{body.kind.value}",
        "referral",
        referral.id,
        referral.student_id,
    )
    await emit(
        session,
        EventType.referral_message_posted,
        [referral.provider_id, referral.school_id],
        {
            "referral_id": str(referral.id),
            "message_id": str(message.id),
            "kind": body.kind.value,
            "side": side.value,
            "in_reply_to": str(body.in_reply_to) if body.in_reply_to else None,
            "posted_at": rfc3339(now),
            "version": referral.version,
        },
    )
    return Message.of(message)


async def thread(
    session: AsyncSession, principal: Principal, referral_id: uuid.UUID
) -> tuple[ReferralRows, Side]:
    """The referral with its messages, and the side the caller reads it as (an admin
    reads as the school does)."""
    rows = await reading.one(Reader(session=session), principal, referral_id)
    side = side_of(principal, rows.referral)
    await record(
        session,
        principal,
        "referral.messages.read",
        "referral",
        rows.referral.id,
        rows.referral.student_id,
    )
    return rows, Side.provider if side is Side.provider else Side.school
