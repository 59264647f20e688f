"""Key rotation: re-seal, under the active key, every row an older key sealed
(students, consents and webhook signing secrets).

Run `python -m service rotate-key` after making a new key active (YOUTHLINK_PII_ACTIVE_KEY)
with the old one still in YOUTHLINK_PII_KEYS. Rows are re-sealed in batches, each its own
transaction, locked with SKIP LOCKED so the API keeps working; a student's identity hash is
recomputed under the new key at the same time. Re-running is safe and cheap. Idempotency
replays are not re-keyed (their request hashes cannot be recomputed): they expire within
24 hours, so remove a retired key only a day after rotate-key reports nothing left.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.consent.models import Consent
from service.consent.pii import seal_signer, signer_name
from service.idempotency import IdempotencyRecord
from service.pii.keyring import Keyring
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


async def _students(session: AsyncSession, ring: Keyring) -> int:
    done = 0
    while True:
        rows = (
            await session.scalars(
                select(Student)
                .where(Student.pii_key_id != ring.active_id)
                .order_by(Student.id)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            )
        ).all()
        if not rows:
            return done
        session.expunge_all()  # sealed anew below, written by UPDATE alone
        for student in rows:
            pii = open_student(ring, student)
            assert pii is not None  # the filter skips purged rows (null key id)
            seal_student(ring, student, pii)
            # Keep updated_at: the record's content did not change.
            await session.execute(
                update(Student)
                .where(Student.id == student.id)
                .values(
                    pii=student.pii,
                    pii_key_id=student.pii_key_id,
                    identity_hash=student.identity_hash,
                    updated_at=Student.updated_at,
                )
            )
        await session.commit()
        done += len(rows)


async def _consents(session: AsyncSession, ring: Keyring) -> int:
    done = 0
    while True:
        rows = (
            await session.scalars(
                select(Consent)
                .where(Consent.pii_key_id != ring.active_id)
                .order_by(Consent.id)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            )
        ).all()
        if not rows:
            return done
        session.expunge_all()
        for consent in rows:
            name = signer_name(ring, consent)
            assert name is not None
            seal_signer(ring, consent, name)
            await session.execute(
                update(Consent)
                .where(Consent.id == consent.id)
                .values(
                    pii=consent.pii, pii_key_id=consent.pii_key_id, updated_at=Consent.updated_at
                )
            )
        await session.commit()
        done += len(rows)


async def _webhook_secrets(session: AsyncSession, ring: Keyring) -> int:
    done = 0
    while True:
        rows = (
            await session.execute(
                select(
                    WebhookEndpoint.id, WebhookEndpoint.secret_key_id, WebhookEndpoint.secret_sealed
                )
                .where(WebhookEndpoint.secret_key_id != ring.active_id)
                .order_by(WebhookEndpoint.id)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            )
        ).all()
        if not rows:
            return done
        for endpoint_id, key_id, sealed in rows:
            endpoint = WebhookEndpoint(id=endpoint_id)  # a carrier, never added
            seal_secret(ring, endpoint, open_secret(ring, endpoint_id, key_id, sealed))
            await session.execute(
                update(WebhookEndpoint)
                .where(WebhookEndpoint.id == endpoint_id)
                .values(
                    secret_sealed=endpoint.secret_sealed,
                    secret_key_id=endpoint.secret_key_id,
                    updated_at=WebhookEndpoint.updated_at,
                )
            )
        await session.commit()
        done += len(rows)


async def rotate(session: AsyncSession, ring: Keyring) -> Rotated:
    students = await _students(session, ring)
    consents = await _consents(session, ring)
    secrets = await _webhook_secrets(session, ring)
    replays = await session.scalar(
        select(func.count()).where(IdempotencyRecord.key_id != ring.active_id)
    )
    return Rotated(students, consents, secrets, int(replays or 0))
