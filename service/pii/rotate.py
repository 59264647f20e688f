"""Key rotation: re-seal, under the active key, every row an older key sealed
(students, consents, referral messages and webhook signing secrets).

Run `python -m service rotate-key` after making a new key active (YOUTHLINK_PII_ACTIVE_KEY)
with the old one still in YOUTHLINK_PII_KEYS. Rows are re-sealed in batches, each its own
transaction, locked with SKIP LOCKED so the API keeps working; a student's identity hash is
recomputed under the new key at the same time. Re-running is safe and cheap. Idempotency
replays are not re-keyed (their request hashes cannot be recomputed): they expire within
24 hours, so remove a retired key only a day after rotate-key reports nothing left.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.consent.models import Consent
from service.consent.pii import seal_signer, signer_name
from service.idempotency import IdempotencyRecord
from service.referrals.models import ReferralMessage
from service.referrals.views import MESSAGES_TABLE, seal_message
from service.sealing.keyring import Keyring
from service.sealing.records import open_record
from service.students.models import Student
from service.students.pii import open_student, seal_student
from service.webhooks.models import WebhookEndpoint
from service.webhooks.service import open_secret, seal_secret

BATCH = 500


@dataclass(frozen=True)
class Rotated:
    students: int
    consents: int
    webhook_secrets: int
    replays_under_old_keys: int
    messages: int = 0


Reseal = Callable[[Any], dict[str, Any]]


async def _in_batches(
    session: AsyncSession, model: Any, key_id: Any, ring: Keyring, reseal: Reseal
) -> int:
    """Re-seal every `model` row whose `key_id` column is not the active key; return how
    many. `reseal` seals a row anew and names the columns to write."""
    done = 0
    while True:
        rows = (
            await session.scalars(
                select(model)
                .where(key_id != ring.active_id)
                .order_by(model.id)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            )
        ).all()
        if not rows:
            return done
        session.expunge_all()  # sealed anew below, written by UPDATE alone
        for row in rows:
            # Keep updated_at: the record's content did not change.
            kept = {"updated_at": model.updated_at} if hasattr(model, "updated_at") else {}
            await session.execute(
                update(model).where(model.id == row.id).values(**reseal(row), **kept)
            )
        await session.commit()
        done += len(rows)


def _student(ring: Keyring) -> Reseal:
    def reseal(student: Student) -> dict[str, Any]:
        pii = open_student(ring, student)
        assert pii is not None  # the filter skips purged rows (null key id)
        seal_student(ring, student, pii)
        return {
            "pii": student.pii,
            "pii_key_id": student.pii_key_id,
            "identity_hash": student.identity_hash,
        }

    return reseal


def _consent(ring: Keyring) -> Reseal:
    def reseal(consent: Consent) -> dict[str, Any]:
        name = signer_name(ring, consent)
        assert name is not None
        seal_signer(ring, consent, name)
        return {"pii": consent.pii, "pii_key_id": consent.pii_key_id}

    return reseal


def _webhook_secret(ring: Keyring) -> Reseal:
    def reseal(endpoint: WebhookEndpoint) -> dict[str, Any]:
        secret = open_secret(ring, endpoint.id, endpoint.secret_key_id, endpoint.secret_sealed)
        seal_secret(ring, endpoint, secret)
        return {"secret_sealed": endpoint.secret_sealed, "secret_key_id": endpoint.secret_key_id}

    return reseal


def _message(ring: Keyring) -> Reseal:
    def reseal(message: ReferralMessage) -> dict[str, Any]:
        assert message.pii is not None and message.pii_key_id is not None
        values = open_record(ring, MESSAGES_TABLE, message.id, message.pii_key_id, message.pii)
        seal_message(ring, message, values["text"], values["attachment_url"])
        return {"pii": message.pii, "pii_key_id": message.pii_key_id}

    return reseal


async def rotate(session: AsyncSession, ring: Keyring) -> Rotated:
    students = await _in_batches(session, Student, Student.pii_key_id, ring, _student(ring))
    consents = await _in_batches(session, Consent, Consent.pii_key_id, ring, _consent(ring))
    secrets = await _in_batches(
        session, WebhookEndpoint, WebhookEndpoint.secret_key_id, ring, _webhook_secret(ring)
    )
    messages = await _in_batches(
        session, ReferralMessage, ReferralMessage.pii_key_id, ring, _message(ring)
    )
    replays = await session.scalar(
        select(func.count()).where(IdempotencyRecord.key_id != ring.active_id)
    )
    return Rotated(students, consents, secrets, int(replays or 0), messages)
