"""The background worker: search sync, webhook delivery, referral expiry, housekeeping.

Each job is a loop that survives database and network outages on its own; `python -m
service worker` runs them side by side until SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service import idempotency
from service.referrals.service import expire_unanswered
from service.search import sync
from service.search.port import SearchBackend
from service.webhooks import delivery

log = logging.getLogger("youthlink.worker")

HOUSEKEEPING_EVERY_S = 60.0


@dataclass
class Housekept:
    expired_referrals: int
    forgotten_keys: int


async def housekeeping(sessions: async_sessionmaker[AsyncSession]) -> Housekept:
    """Expire unanswered referrals; forget old idempotency keys."""
    expired = 0
    while True:  # in batches, each its own transaction
        async with sessions() as session, session.begin():
            batch = await expire_unanswered(session)
        expired += batch
        if batch == 0:
            break
    async with sessions() as session, session.begin():
        forgotten = await idempotency.forget_expired(session)
    return Housekept(expired_referrals=expired, forgotten_keys=forgotten)


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
    backend: SearchBackend,
    *,
    poll_s: float = 0.5,
    batch_size: int = 500,
    stop: asyncio.Event | None = None,
) -> None:
    stop = stop or asyncio.Event()
    async with delivery.client() as client:

        async def webhooks() -> bool:
            done = await delivery.deliver_due(sessions, client)
            return done.sent + done.failed > 0

        async def housekeep() -> bool:
            done = await housekeeping(sessions)
            if done.expired_referrals:
                log.info("expired %d unanswered referrals", done.expired_referrals)
            return False

        await asyncio.gather(
            sync.run_worker(sessions, backend, poll_s=poll_s, batch_size=batch_size, stop=stop),
            _every("webhooks", poll_s, stop, webhooks),
            _every("housekeeping", HOUSEKEEPING_EVERY_S, stop, housekeep),
        )


async def run_once(
    sessions: async_sessionmaker[AsyncSession], backend: SearchBackend, batch_size: int = 500
) -> tuple[sync.Drained, delivery.Delivered, Housekept]:
    """What is due now, once: search outbox, webhooks, expiry."""
    drained = await sync.drain(sessions, backend, batch_size)
    housekept = await housekeeping(sessions)
    async with delivery.client() as client:
        delivered = await delivery.deliver_due(sessions, client)
    return drained, delivered, housekept
