"""The background worker: webhook delivery, consent and referral expiry, housekeeping (with the
search change log's trimming), and, when Meilisearch serves, its follower of the log.

Each job is a loop that survives database and network outages on its own; `python -m
service worker` runs them side by side until SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service import idempotency
from service.referrals.consent_end import lapse_expired
from service.referrals.service import expire_unanswered
from service.search import changelog
from service.search.follower import Follower, Step
from service.webhooks import delivery

log = logging.getLogger("youthlink.worker")

HOUSEKEEPING_EVERY_S = 60.0


@dataclass
class Housekept:
    expired_referrals: int
    forgotten_keys: int
    trimmed_changes: int = 0
    lapsed_consents: int = 0


async def housekeeping(
    sessions: async_sessionmaker[AsyncSession], log_retention: timedelta | None = None
) -> Housekept:
    """End expired consents (and the referrals under them); expire unanswered referrals;
    forget old idempotency keys; trim the search log."""
    lapsed = 0
    while True:
        async with sessions() as session, session.begin():
            batch = await lapse_expired(session)
        lapsed += batch
        if batch == 0:
            break
    expired = 0
    while True:  # in batches, each its own transaction
        async with sessions() as session, session.begin():
            batch = await expire_unanswered(session)
        expired += batch
        if batch == 0:
            break
    async with sessions() as session, session.begin():
        forgotten = await idempotency.forget_expired(session)
    trimmed = 0
    if log_retention is not None:
        async with sessions() as session, session.begin():
            trimmed = await changelog.trim(session, log_retention)
    return Housekept(
        expired_referrals=expired,
        forgotten_keys=forgotten,
        trimmed_changes=trimmed,
        lapsed_consents=lapsed,
    )


async def _every(
    name: str, pause_s: float, stop: asyncio.Event, job: Callable[[], Awaitable[bool]]
) -> None:
    """Run `job` until `stop`; right away again while it reports more work, else after
    `pause_s` (longer after a failure)."""
    pause = pause_s
    while not stop.is_set():
        try:
            more = await job()
            pause = pause_s
            if more:
                continue
        except Exception as exc:  # database or network down: back off and retry
            log.warning("%s: %s", name, exc)
            pause = min(max(pause, pause_s) * 2, 300.0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=pause)


async def run(
    sessions: async_sessionmaker[AsyncSession],
    search: Follower | None,
    *,
    poll_s: float = 0.5,
    log_retention: timedelta | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Every job until `stop`; `search` is the Meilisearch follower, when it serves."""
    stop = stop or asyncio.Event()
    async with delivery.client() as client:

        async def webhooks() -> bool:
            done = await delivery.deliver_due(sessions, client)
            return done.sent + done.failed > 0

        async def housekeep() -> bool:
            done = await housekeeping(sessions, log_retention)
            if done.lapsed_consents:
                log.info("ended %d expired consents", done.lapsed_consents)
            if done.expired_referrals:
                log.info("expired %d unanswered referrals", done.expired_referrals)
            if done.trimmed_changes:
                log.info("trimmed %d search change log rows", done.trimmed_changes)
            return False

        jobs = [
            _every("webhooks", poll_s, stop, webhooks),
            _every("housekeeping", HOUSEKEEPING_EVERY_S, stop, housekeep),
        ]
        if search is not None:
            jobs.append(search.run(stop))
        await asyncio.gather(*jobs)


async def run_once(
    sessions: async_sessionmaker[AsyncSession],
    search: Follower | None,
    log_retention: timedelta | None = None,
) -> tuple[Step | None, delivery.Delivered, Housekept]:
    """What is due now, once: the Meilisearch follower's step, webhooks, expiry."""
    step = await search.step() if search is not None else None
    housekept = await housekeeping(sessions, log_retention)
    async with delivery.client() as client:
        delivered = await delivery.deliver_due(sessions, client)
    return step, delivered, housekept
