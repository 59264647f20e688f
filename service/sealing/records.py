"""Sealed JSON records: how a row's personal fields are stored in its `pii` column.

The context binds a sealed value to its table and row, so it cannot be moved elsewhere.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from service.sealing.keyring import Keyring


def context(table: str, row_id: uuid.UUID) -> bytes:
    return f"{table}.pii:".encode() + row_id.bytes


def seal_record(
    ring: Keyring, table: str, row_id: uuid.UUID, values: dict[str, Any]
) -> tuple[str, bytes]:
    """(key id, sealed JSON of `values`)."""
    plaintext = json.dumps(values, separators=(",", ":"), sort_keys=True).encode()
    return ring.seal(plaintext, context(table, row_id))


def open_record(
    ring: Keyring, table: str, row_id: uuid.UUID, key_id: str, sealed: bytes
) -> dict[str, Any]:
    opened: dict[str, Any] = json.loads(ring.open(key_id, sealed, context(table, row_id)))
    return opened
