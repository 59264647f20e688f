"""The thread of a referral: post a message (or a request for information, or its
answer) and read them, as the school or the provider."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from service.auth.principal import Principal, require_roles
from service.auth.roles import Role
from service.db import SessionDep
from service.errors import problem_responses
from service.local_time import today
from service.pagination import Page, PageParams, page_params
from service.referrals import messages
from service.referrals.schemas import MessageCreate, MessageOut
from service.referrals.views import message_out, school_notes_shown

router = APIRouter(tags=["referrals"])
Poster = Annotated[Principal, require_roles(Role.school, Role.provider)]
Reader = Annotated[Principal, require_roles(Role.school, Role.provider, Role.admin)]


@router.post(
    "/referrals/{referral_id}/messages",
    operation_id="referrals_message_post",
    status_code=status.HTTP_201_CREATED,
    summary="Post a message on a referral (its school or provider)",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def referrals_message_post(
    session: SessionDep,
    principal: Poster,
    referral_id: uuid.UUID,
    body: MessageCreate,
    response: Response,
) -> MessageOut:
    """Posts a message on an open referral, as its school or its provider: `message` (either
    side), `information_request` (the provider asks the school for something it needs) or
    `information_response` (the school answers one, named in `in_reply_to`; 409
    `already_answered` for a second answer). The text and attachment link are sealed at rest
    and erased by the retention purge; both sides get a `referral.message_posted` webhook (ids
    only). A provider reads the school's messages only while the consent covers `notes`
    (otherwise they come `redacted`). A provider posting on a `sent` referral receives it.
    Refused: 409 `referral_closed` once the loop closed, 409 `consent_ended` for a provider
    after the consent ended, 403 `message_not_permitted` for the wrong side or an outsider.
    """
    posted = await messages.post_message(session, principal, referral_id, body)
    response.headers["Location"] = f"/referrals/{referral_id}/messages"
    return message_out(posted, posted.side, school_notes_shown=True)  # the poster's own


@router.get(
    "/referrals/{referral_id}/messages",
    operation_id="referrals_messages",
    summary="The messages on a referral, oldest first",
    responses=problem_responses(401, 403, 404),
)
async def referrals_messages(
    session: SessionDep,
    principal: Reader,
    referral_id: uuid.UUID,
    pages: Annotated[PageParams, Depends(page_params)],
) -> Page[MessageOut]:
    """Returns a page of the referral's messages in posting order, each with its author, kind,
    the referral version it was posted at and, for requests, when they were answered. The
    school (and an admin) reads every message; the provider reads its own, and the school's
    only while the consent covers `notes`: otherwise their `text` and `attachment_url` are
    null and `redacted` is true. Reading the thread is recorded in the audit trail.
    """
    rows, viewer = await messages.thread(session, principal, referral_id)
    shown = school_notes_shown(rows, viewer, today())
    every = [message_out(m, viewer, shown) for m in rows.messages]
    page = every[pages.offset : pages.offset + pages.per_page]
    return Page[MessageOut].build(page, len(every), pages)
