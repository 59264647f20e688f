"""Student PII at rest: sealed, found by keyed hash, re-sealed by rotate-key."""

from __future__ import annotations

import base64
import os
import uuid

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from service.consent.models import Consent
from service.consent.pii import signer_name
from service.pii.rotate import rotate
from service.sealing.keyring import Keyring, keyring
from service.settings import Settings
from service.students.models import Student
from service.students.pii import open_student
from service.webhooks.models import WebhookEndpoint
from service.webhooks.service import open_secret
from tests.conftest import Callers
from tests.factories import create_program
from tests.referrals.conftest import World, consent_body, post, student_body


async def test_names_are_not_stored_in_clear(world: World, session: AsyncSession) -> None:
    raw = await session.scalar(
        text("SELECT s::text FROM students s WHERE id = :id"), {"id": world.student["id"]}
    )
    assert raw is not None
    for clear in ("Marisol", "Quintanilla", "2014-03-09", "203-555-0142", "rosa.q@example.org"):
        assert clear not in raw
    consent = await session.scalar(text("SELECT c::text FROM consents c"))
    assert consent is not None and "Rosa" not in consent
    # ...and the owning school still reads them.
    got = await world.client.get(
        f"/students/{world.student['id']}", headers=world.callers.school_a.headers
    )
    assert got.json()["first_name"] == "Marisol" and got.json()["pii_purged_at"] is None


async def test_a_second_record_of_the_same_child_is_a_conflict(world: World) -> None:
    twin = student_body(student_number="S-9", first_name="  marisol ", last_name="QUINTANILLA")
    again = await world.client.post("/students", json=twin, headers=world.callers.school_a.headers)
    assert again.status_code == 409 and again.json()["code"] == "duplicate_student"
    assert world.student["id"] in again.json()["detail"]
    assert "Marisol" not in again.text
    # Another school may have the same child: hashes are per school.
    elsewhere = await world.client.post(
        "/students", json=twin, headers=world.callers.school_b.headers
    )
    assert elsewhere.status_code == 201, elsewhere.text


async def test_renaming_into_another_student_is_a_conflict(world: World) -> None:
    other = await post(
        world.client,
        world.callers.school_a,
        "/students",
        student_body(student_number="S-2", first_name="Luz"),
    )
    path = f"/students/{other['id']}"
    current = await world.client.get(path, headers=world.callers.school_a.headers)
    renamed = await world.client.patch(
        path,
        json={"first_name": "Marisol"},
        headers={**world.callers.school_a.headers, "If-Match": current.headers["ETag"]},
    )
    assert renamed.status_code == 409 and renamed.json()["code"] == "duplicate_student"


async def test_lookup_by_name_and_birth_date(world: World) -> None:
    body = {"first_name": "MARISOL", "last_name": "quintanilla", "date_of_birth": "2014-03-09"}
    found = await world.client.post(
        "/students/lookup", json=body, headers=world.callers.school_a.headers
    )
    assert found.status_code == 200, found.text
    assert [s["id"] for s in found.json()] == [world.student["id"]]
    wrong_day = await world.client.post(
        "/students/lookup",
        json={**body, "date_of_birth": "2014-03-10"},
        headers=world.callers.school_a.headers,
    )
    assert wrong_day.json() == []
    # School B looks in its own school and finds nothing; naming school A is a 404.
    other = await world.client.post(
        "/students/lookup", json=body, headers=world.callers.school_b.headers
    )
    assert other.status_code == 200 and other.json() == []
    foreign = await world.client.post(
        "/students/lookup",
        json={**body, "school_id": str(world.callers.school_a.organization_id)},
        headers=world.callers.school_b.headers,
    )
    assert foreign.status_code == 404
    provider = await world.client.post(
        "/students/lookup", json=body, headers=world.callers.provider_a.headers
    )
    assert provider.status_code == 403


async def test_rotate_key_reseals_everything_under_the_new_key(
    client: httpx.AsyncClient,
    callers: Callers,
    session: AsyncSession,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = keyring()
    student = await post(client, callers.school_a, "/students", student_body())
    await post(client, callers.school_a, f"/students/{student['id']}/consents", consent_body())
    hook = {"url": "http://127.0.0.1:9/hook", "events": ["referral.created"]}
    endpoint = await post(client, callers.provider_a, "/webhook-endpoints", hook)
    program = await create_program(client, callers.provider_a)
    body = {"student_id": student["id"], "program_id": program["id"], "need": "other"}
    referral = await post(client, callers.school_a, "/referrals", body)
    thread = f"/referrals/{referral['id']}/messages"
    await post(client, callers.school_a, thread, {"text": "Sealed under the old key"})
    row = await session.get(Student, uuid.UUID(student["id"]))
    assert row is not None and row.pii_key_id == old.active_id
    updated_at = row.updated_at

    # A new key becomes active; the old one stays in the keyring until the rotation is done.
    old_secret = base64.b64decode(settings.pii_keys[old.active_id].get_secret_value())
    new_secret = os.urandom(32)
    both = Keyring({old.active_id: old_secret, "2026-11": new_secret}, "2026-11")
    monkeypatch.setattr("service.sealing.keyring._keyring", lambda *_: both)
    rotated = await rotate(session, both)
    assert rotated.students >= 1 and rotated.consents >= 1 and rotated.webhook_secrets >= 1
    assert rotated.messages >= 1
    again = await rotate(session, both)
    assert (again.students, again.consents, again.webhook_secrets, again.messages) == (0, 0, 0, 0)

    # Everything now opens without the old key.
    new_only = Keyring({"2026-11": new_secret}, "2026-11")
    session.expire_all()
    row = await session.get(Student, uuid.UUID(student["id"]))
    assert row is not None and row.pii_key_id == "2026-11"
    assert row.updated_at == updated_at  # the content did not change
    pii = open_student(new_only, row)
    assert pii is not None and pii.first_name == "Marisol"
    for consent in (await session.scalars(select(Consent))).all():
        assert consent.pii_key_id == "2026-11" and signer_name(new_only, consent)
    hook_row = await session.get(WebhookEndpoint, uuid.UUID(endpoint["id"]))
    assert hook_row is not None
    opened = open_secret(new_only, hook_row.id, hook_row.secret_key_id, hook_row.secret_sealed)
    assert opened == endpoint["secret"]
    # Lookups find the student by the hash recomputed under the new key.
    monkeypatch.setattr("service.sealing.keyring._keyring", lambda *_: new_only)
    found = await client.post(
        "/students/lookup",
        json={"first_name": "Marisol", "last_name": "Quintanilla", "date_of_birth": "2014-03-09"},
        headers=callers.school_a.headers,
    )
    assert [s["id"] for s in found.json()] == [student["id"]]
    messages = (await client.get(thread, headers=callers.school_a.headers)).json()["contents"]
    assert [m["text"] for m in messages] == ["Sealed under the old key"]
