"""API key material: generation, the stored keyed hash, parsing what a caller sends.

A key reads `yl_<prefix>_<secret>`. The prefix (8 hex characters) is stored in clear
so staff can tell keys apart; the whole key is stored only as HMAC-SHA256 under a
server-side pepper. Keys carry 256 bits of randomness, so a fast hash is enough.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_SCHEME = "yl"


@dataclass(frozen=True)
class NewKey:
    prefix: str
    secret: str

    @property
    def token(self) -> str:
        return f"{self.prefix}_{self.secret}"


def generate() -> NewKey:
    return NewKey(prefix=f"{KEY_SCHEME}_{secrets.token_hex(4)}", secret=secrets.token_urlsafe(32))


def hash_token(token: str, pepper: str) -> str:
    return hmac.new(pepper.encode(), token.encode(), hashlib.sha256).hexdigest()


def split_token(token: str) -> tuple[str, str] | None:
    """(prefix, token) of a well-formed key, else None."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_SCHEME or len(parts[1]) != 8 or not parts[2]:
        return None
    return f"{parts[0]}_{parts[1]}", token


def matches(token: str, stored_hash: str, pepper: str) -> bool:
    return hmac.compare_digest(hash_token(token, pepper), stored_hash)
