"""What migrations 0005 and 0006 need of the sealing code, frozen as it was when they were written.

Migrations never import the application: a later change to a model or to the sealing code
must not change what an old migration does. So this module keeps its own copy of the
sealed-value format of revision 0005 (HKDF-SHA256 from each secret, AES-256-GCM with a
12-byte nonce in front, HMAC-SHA256 lookup digests) and of the contexts that bind a value
to its row. The keys come from env.py (`config.attributes["pii_keys"]`, decoded bytes by
key id, and `["pii_active_key"]`), which reads them from the settings.
"""

from __future__ import annotations

import json
import os
import unicodedata
import uuid
from collections.abc import Mapping
from datetime import date
from typing import Any

from alembic import context
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret)


class Keyring:
    """Seal with the active key, open with the key that sealed, digest with the active key."""

    def __init__(self, secrets: Mapping[str, bytes], active_id: str) -> None:
        self.active_id = active_id
        self._aead = {
            k: AESGCM(_derive(s, b"youthlink pii aes-256-gcm")) for k, s in secrets.items()
        }
        self._lookup = _derive(secrets[active_id], b"youthlink pii lookup hmac-sha256")

    def seal(self, plaintext: bytes, context: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(NONCE_BYTES)
        return self.active_id, nonce + self._aead[self.active_id].encrypt(nonce, plaintext, context)

    def open(self, key_id: str, sealed: bytes, context: bytes) -> bytes:
        return self._aead[key_id].decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context)

    def digest(self, data: bytes) -> bytes:
        mac = hmac.HMAC(self._lookup, hashes.SHA256())
        mac.update(data)
        return mac.finalize()


def keyring() -> Keyring:
    """The keys env.py passed in."""
    attributes = context.config.attributes
    return Keyring(attributes["pii_keys"], attributes["pii_active_key"])


def _record_context(table: str, row_id: uuid.UUID) -> bytes:
    return f"{table}.pii:".encode() + row_id.bytes


def seal_record(
    ring: Keyring, table: str, row_id: uuid.UUID, values: dict[str, Any]
) -> tuple[str, bytes]:
    plaintext = json.dumps(values, separators=(",", ":"), sort_keys=True).encode()
    return ring.seal(plaintext, _record_context(table, row_id))


def open_record(
    ring: Keyring, table: str, row_id: uuid.UUID, key_id: str, sealed: bytes
) -> dict[str, Any]:
    opened: dict[str, Any] = json.loads(ring.open(key_id, sealed, _record_context(table, row_id)))
    return opened


def _normal(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def identity_material(school_id: uuid.UUID, first: str, last: str, born: date) -> bytes:
    parts = ("student-identity-v1", str(school_id), _normal(first), _normal(last), born.isoformat())
    return "\x1f".join(parts).encode()


def secret_context(endpoint_id: uuid.UUID) -> bytes:
    return b"webhook_endpoints.secret:" + endpoint_id.bytes
