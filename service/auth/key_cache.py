"""The API keys an API process has looked up, kept until PostgreSQL says they changed.

Every request with a key looked its row up: a round trip, about 6% of a worker's time
under the load benchmark. An API process now keeps the rows it looked up (by prefix; the
secret is still checked against the stored hash on every request) for as long as it
listens on the channel `youthlink_api_keys`, which a trigger notifies after any change
to a key row commits (migration 0012: revoked, changed, deleted, truncated; not the
once-a-minute `last_used_at`). So a revoked key stops working in every process as soon
as the notification arrives (on loopback, a millisecond or two; the revoking process
forgets its keys when the revocation commits, service/db.py `wrote`).

When the listening connection is lost, nothing is served from the cache (every request
looks its key up, as before) until it listens again, and then it starts empty: changes
made while it was away are never missed. A lookup that raced a notification is not kept
(`generation`): a row read before a change committed, whose notification arrived
before the row was stored, would otherwise outlive the change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

CHANNEL = "youthlink_api_keys"
EVERY_KEY = "*"  # TRUNCATE

log = logging.getLogger(__name__)


class KeyCache:
    """Key rows by prefix, served only while the process listens for their changes."""

    def __init__(self, max_keys: int = 10_000) -> None:
        self._rows: dict[str, dict[str, Any]] = {}
        self._max_keys = max_keys
        self._generation = 0
        self._listening = False

    @property
    def listening(self) -> bool:
        return self._listening

    @property
    def generation(self) -> int:
        """Read before a lookup, given to `store` after it."""
        return self._generation

    def lookup(self, prefix: str) -> Mapping[str, Any] | None:
        return self._rows.get(prefix) if self._listening else None

    def store(self, prefix: str, row: Mapping[str, Any], generation: int) -> None:
        """Keep a row looked up when the cache was at `generation`, unless a change was
        heard since (or the cache is not listening)."""
        if not self._listening or generation != self._generation:
            return
        if len(self._rows) >= self._max_keys:
            self._rows.clear()
        self._rows[prefix] = dict(row)

    def used(self, prefix: str, at: datetime) -> None:
        """The key's last_used_at was written (which notifies nothing)."""
        row = self._rows.get(prefix)
        if row is not None:
            row["last_used_at"] = at

    def forget(self, prefix: str) -> None:
        self._generation += 1
        if prefix == EVERY_KEY:
            self._rows.clear()
        else:
            self._rows.pop(prefix, None)

    def forget_all(self) -> None:
        self.forget(EVERY_KEY)

    def _heard(self, _connection: Any, _pid: int, _channel: str, prefix: str) -> None:
        self.forget(prefix)

    def _listens(self, listening: bool) -> None:
        self.forget_all()
        self._listening = listening

    async def listen(self, connect: Any, check_s: float = 5.0, retry_s: float = 1.0) -> None:
        """Run until cancelled: `connect()` (an asyncpg connection), LISTEN, and serve
        from the cache while that connection is known to be alive (checked every
        `check_s`); on any failure stop serving, and connect again after `retry_s`."""
        while True:
            connection: asyncpg.Connection | None = None
            try:
                connection = await connect()
                assert connection is not None
                await connection.add_listener(CHANNEL, self._heard)
                connection.add_termination_listener(lambda _c: self._listens(False))
                self._listens(True)
                while not connection.is_closed():
                    await asyncio.sleep(check_s)
                    await connection.fetchval("SELECT 1", timeout=check_s)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if self._listening:
                    log.warning("API key cache: not listening (%r); looking keys up", error)
            finally:
                self._listens(False)
                if connection is not None:
                    connection.terminate()
            await asyncio.sleep(retry_s)
