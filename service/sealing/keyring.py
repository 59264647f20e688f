"""Application-level encryption of personal data: AES-256-GCM and keyed lookup hashes.

One secret per key id (setting YOUTHLINK_PII_KEYS). From each secret, HKDF derives two
independent keys: one to encrypt (AES-GCM, from the `cryptography` package) and one for
lookup hashes (HMAC-SHA256), so a rotation replaces both at once. Every sealed value is
stored beside the id of the key that sealed it; `python -m service rotate-key` re-seals
what an older key sealed.

A sealed value is `nonce (12 bytes) || ciphertext || tag`. The caller passes a context
(e.g. the table and row id) that is authenticated but not stored: a ciphertext copied to
another row or column does not open.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from service.settings import Settings, get_settings

NONCE_BYTES = 12
SECRET_BYTES = 32


class KeyringError(ValueError):
    """A key is missing or malformed, or a sealed value does not open."""


def new_secret() -> str:
    """A fresh random secret, base64, for YOUTHLINK_PII_KEYS."""
    return base64.b64encode(os.urandom(SECRET_BYTES)).decode()


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret)


@dataclass(frozen=True)
class _Key:
    aead: AESGCM
    lookup: bytes = field(repr=False)


class Keyring:
    """The keys by id; the active one seals, any of them opens what it sealed."""

    def __init__(self, secrets: Mapping[str, bytes], active_id: str) -> None:
        if active_id not in secrets:
            raise KeyringError(f"The active PII key {active_id!r} is not in the keyring.")
        self.active_id = active_id
        self._keys: dict[str, _Key] = {}
        for key_id, secret in secrets.items():
            if len(secret) < SECRET_BYTES:
                raise KeyringError(f"PII key {key_id!r} is shorter than {SECRET_BYTES} bytes.")
            self._keys[key_id] = _Key(
                aead=AESGCM(_derive(secret, b"youthlink pii aes-256-gcm")),
                lookup=_derive(secret, b"youthlink pii lookup hmac-sha256"),
            )

    @property
    def ids(self) -> list[str]:
        """Every key id, the active one first."""
        return [self.active_id, *sorted(set(self._keys) - {self.active_id})]

    def _key(self, key_id: str) -> _Key:
        try:
            return self._keys[key_id]
        except KeyError:
            raise KeyringError(
                f"PII key {key_id!r} is not in the keyring (YOUTHLINK_PII_KEYS); keep retired "
                "keys there until `rotate-key` has re-sealed everything they sealed."
            ) from None

    def seal(self, plaintext: bytes, context: bytes) -> tuple[str, bytes]:
        """(key id, sealed value) under the active key."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + self._key(self.active_id).aead.encrypt(nonce, plaintext, context)
        return self.active_id, sealed

    def open(self, key_id: str, sealed: bytes, context: bytes) -> bytes:
        try:
            return self._key(key_id).aead.decrypt(
                sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context
            )
        except InvalidTag:
            raise KeyringError(
                "A sealed value does not open: wrong key, wrong context or tampered."
            ) from None

    def digest(self, data: bytes, key_id: str | None = None) -> bytes:
        """HMAC-SHA256 of `data` under one key's lookup key (the active one by default)."""
        mac = hmac.HMAC(self._key(key_id or self.active_id).lookup, hashes.SHA256())
        mac.update(data)
        return mac.finalize()

    def digests(self, data: bytes) -> list[bytes]:
        """The digest under every key: what a lookup must match during a rotation."""
        return [self.digest(data, key_id) for key_id in self.ids]


def _decode(key_id: str, value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise KeyringError(f"PII key {key_id!r} is not valid base64.") from None


@lru_cache(maxsize=8)
def _keyring(secrets: tuple[tuple[str, str], ...], active_id: str) -> Keyring:
    return Keyring({k: _decode(k, v) for k, v in secrets}, active_id)


def keyring(settings: Settings | None = None) -> Keyring:
    """The keyring the settings describe (built once per distinct setting)."""
    settings = settings or get_settings()
    secrets = tuple(sorted((k, v.get_secret_value()) for k, v in settings.pii_keys.items()))
    return _keyring(secrets, settings.pii_active_key)
