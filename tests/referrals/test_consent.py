"""FERPA consent: who may sign, what it covers, revocation going forward."""

from __future__ import annotations

from datetime import timedelta

from service.local_time import today as local_today
from tests.referrals.conftest import World, consent_body, post, student_body


async def test_a_guardian_cannot_consent_for_an_eligible_student(world: World) -> None:
    c = world.callers
    adult = await post(
        world.client,
        c.school_a,
        "/students",
        student_body(student_number="S-18", date_of_birth="2007-01-15", grade="12"),
    )
    path = f"/students/{adult['id']}/consents"
    guardian = await world.client.post(path, json=consent_body(), headers=c.school_a.headers)
    assert guardian.status_code == 422 and guardian.json()["code"] == "signer_not_entitled"
    student = await world.client.post(
        path, json=consent_body(signer="student", signer_name="Ana"), headers=c.school_a.headers
    )
    assert student.status_code == 201, student.text
    assert student.json()["state"] == "active"


async def test_a_minor_cannot_sign_their_own_consent(world: World) -> None:
    response = await world.client.post(
        f"/students/{world.student['id']}/consents",
        json=consent_body(signer="student"),
        headers=world.callers.school_a.headers,
    )
    assert response.status_code == 422 and response.json()["code"] == "signer_not_entitled"


async def test_incoherent_consents_are_refused(world: World) -> None:
    path = f"/students/{world.student['id']}/consents"
    today = local_today()
    for bad in (
        {"recipient_categories": [], "recipient_organization_ids": []},
        {"data_elements": []},
        {"data_elements": ["shoe_size"]},
        {"expires_on": (today - timedelta(days=2)).isoformat()},
        {"signed_on": (today + timedelta(days=2)).isoformat()},
        {"signature_method": "telepathy"},
        {"recipient_organization_ids": ["00000000-0000-4000-8000-000000000000"]},
    ):
        response = await world.client.post(
            path, json=consent_body(**bad), headers=world.callers.school_a.headers
        )
        assert response.status_code == 422, (bad, response.text)


async def test_other_schools_and_providers_cannot_see_consents(world: World) -> None:
    path = f"/consents/{world.consent['id']}"
    c = world.callers
    assert (await world.client.get(path, headers=c.school_a.headers)).status_code == 200
    assert (await world.client.get(path, headers=c.school_b.headers)).status_code == 404
    assert (await world.client.get(path, headers=c.provider_a.headers)).status_code == 403
    revoke = await world.client.post(f"{path}/revoke", json={}, headers=c.school_b.headers)
    assert revoke.status_code == 404


async def test_revoking_twice_is_a_conflict(world: World) -> None:
    path = f"/consents/{world.consent['id']}/revoke"
    first = await world.client.post(
        path, json={"note": "Family moved"}, headers=world.callers.school_a.headers
    )
    assert first.status_code == 200 and first.json()["state"] == "revoked"
    again = await world.client.post(path, json={}, headers=world.callers.school_a.headers)
    assert again.status_code == 409 and again.json()["code"] == "already_revoked"
