"""The signer's name on a consent, sealed in `consents.pii` like a student's fields."""

from __future__ import annotations

from service.consent.models import Consent
from service.sealing.keyring import Keyring
from service.sealing.records import open_record, seal_record

TABLE = "consents"


def seal_signer(ring: Keyring, consent: Consent, signer_name: str) -> None:
    consent.pii_key_id, consent.pii = seal_record(
        ring, TABLE, consent.id, {"signer_name": signer_name}
    )


def signer_name(ring: Keyring, consent: Consent) -> str | None:
    """The signer's name, or None once purged."""
    if consent.pii is None or consent.pii_key_id is None:
        return None
    name: str = open_record(ring, TABLE, consent.id, consent.pii_key_id, consent.pii)["signer_name"]
    return name
