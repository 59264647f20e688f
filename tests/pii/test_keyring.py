"""AES-GCM sealing and keyed hashes: what the keyring promises, without a database."""

from __future__ import annotations

import base64
import os

import pytest

from service.sealing.keyring import Keyring, KeyringError, new_secret
from service.settings import Settings


def ring(active: str = "a", **secrets: bytes) -> Keyring:
    return Keyring(secrets or {"a": os.urandom(32)}, active)


def test_a_sealed_value_opens_only_with_its_key_and_context() -> None:
    keys = ring()
    key_id, sealed = keys.seal(b"Zephyrine", b"students.pii:1")
    assert key_id == "a" and b"Zephyrine" not in sealed
    assert keys.open(key_id, sealed, b"students.pii:1") == b"Zephyrine"
    with pytest.raises(KeyringError, match="does not open"):
        keys.open(key_id, sealed, b"students.pii:2")  # moved to another row
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(KeyringError, match="does not open"):
        keys.open(key_id, tampered, b"students.pii:1")
    with pytest.raises(KeyringError, match="not in the keyring"):
        keys.open("retired", sealed, b"students.pii:1")


def test_each_seal_uses_a_fresh_nonce() -> None:
    keys = ring()
    assert keys.seal(b"same", b"c")[1] != keys.seal(b"same", b"c")[1]


def test_rotation_keeps_old_values_readable_and_hashes_findable() -> None:
    old, new = os.urandom(32), os.urandom(32)
    before = Keyring({"old": old}, "old")
    after = Keyring({"old": old, "new": new}, "new")
    key_id, sealed = before.seal(b"x", b"c")
    assert after.open(key_id, sealed, b"c") == b"x"
    assert after.seal(b"x", b"c")[0] == "new"
    assert after.ids == ["new", "old"]
    # A hash made before the rotation is among the digests a lookup tries after it.
    assert before.digest(b"identity") in after.digests(b"identity")
    assert after.digest(b"identity") != before.digest(b"identity")


def test_the_lookup_key_is_not_the_encryption_key() -> None:
    secret = os.urandom(32)
    keys = Keyring({"a": secret}, "a")
    assert keys.digest(b"") != secret and len(keys.digest(b"")) == 32


def test_bad_keyrings_are_refused() -> None:
    with pytest.raises(KeyringError, match="not in the keyring"):
        Keyring({"a": os.urandom(32)}, "b")
    with pytest.raises(KeyringError, match="shorter"):
        Keyring({"a": b"short"}, "a")


def test_settings_carry_the_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    from service.sealing.keyring import keyring

    secret = new_secret()
    assert len(base64.b64decode(secret)) == 32
    monkeypatch.setenv("YOUTHLINK_PII_KEYS", f'{{"2026-11": "{secret}"}}')
    monkeypatch.setenv("YOUTHLINK_PII_ACTIVE_KEY", "2026-11")
    keys = keyring(Settings())
    assert keys.active_id == "2026-11"
    monkeypatch.setenv("YOUTHLINK_PII_KEYS", '{"2026-11": "not base64!"}')
    with pytest.raises(KeyringError, match="base64"):
        keyring(Settings())
