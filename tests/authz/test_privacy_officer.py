"""A school's privacy officer reads who accessed its students (the audit trail and the
access log), never the students, consents or referrals themselves; admins read every
school's log."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import Callers
from tests.factories import create_program
from tests.oidc_issuer import Issuers, Tenant, bearer, configured
from tests.referrals.conftest import consent_body, post, student_body

LOG = "/audit/access-log"


@dataclass
class Records:
    a1: dict[str, Any]  # school A's student, referred to provider A
    b1: dict[str, Any]  # school B's
    consent: dict[str, Any]
    referral: dict[str, Any]
    tenant: Tenant  # school A's identity provider


@pytest.fixture
def tenant(issuers: Issuers) -> Tenant:
    return issuers.tenant()


@pytest.fixture
def signed_in(tenant: Tenant, callers: Callers) -> Iterator[None]:
    issuer = tenant.config(organization_id=str(callers.school_a.organization_id))
    with configured(oidc_issuers=[issuer]):
        yield


@pytest.fixture
async def records(
    client: httpx.AsyncClient, callers: Callers, tenant: Tenant, signed_in: None
) -> Records:
    a, b = callers.school_a, callers.school_b
    a1 = await post(client, a, "/students", student_body())
    b1 = await post(client, b, "/students", student_body(student_number="B-1"))
    consent = await post(client, a, f"/students/{a1['id']}/consents", consent_body())
    program = await create_program(client, callers.provider_a, name="Math Lab")
    body = {"student_id": a1["id"], "program_id": program["id"], "need": "academic_support"}
    referral = await post(client, a, "/referrals", body)
    # Reads: a counselor signed in, the provider's key, school B's key on its own student.
    counselor = bearer(tenant.token())
    assert (await client.get(f"/students/{a1['id']}", headers=counselor)).status_code == 200
    seen = await client.get(f"/referrals/{referral['id']}", headers=callers.provider_a.headers)
    assert seen.status_code == 200
    assert (await client.get(f"/students/{b1['id']}", headers=b.headers)).status_code == 200
    return Records(a1, b1, consent, referral, tenant)


async def _log(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> Any:
    response = await client.get(LOG, params={"per_page": 100, **params}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["contents"]


async def test_the_access_log_shows_its_own_students_newest_first_naming_each_actor(
    client: httpx.AsyncClient, callers: Callers, records: Records
) -> None:
    entries = await _log(client, callers.privacy_officer_a.headers)
    assert {e["student_id"] for e in entries} == {records.a1["id"]}
    ids = [e["id"] for e in entries]
    assert ids == sorted(ids, reverse=True)
    actions = [e["action"] for e in entries]
    for action in ("student.create", "consent.create", "referral.create", "referral.read"):
        assert action in actions
    (person,) = [e for e in entries if e["action"] == "student.read"]
    assert person["actor_subject"] == f"{records.tenant.issuer} dana-7"
    assert person["actor_name"] == "Dana Whitfield" and person["actor_key_id"] is None
    (provider,) = [e for e in entries if e["action"] == "referral.read"]
    assert provider["actor_role"] == "provider" and provider["actor_key_id"] is not None
    assert provider["actor_organization_id"] == str(callers.provider_a.organization_id)


async def test_the_access_log_filters_by_student_and_by_actor(
    client: httpx.AsyncClient, callers: Callers, records: Records
) -> None:
    officer = callers.privacy_officer_a.headers
    subject = f"{records.tenant.issuer} dana-7"
    by_person = await _log(client, officer, actor_subject=subject)
    assert [e["action"] for e in by_person] == ["student.read"]
    everything = await _log(client, officer)
    provider_key = next(e["actor_key_id"] for e in everything if e["action"] == "referral.read")
    by_key = await _log(client, officer, actor_key_id=provider_key)
    assert [e["action"] for e in by_key] == ["referral.read"]
    assert len(await _log(client, officer, student_id=records.a1["id"])) == len(everything)
    # Another school's student: the filter narrows, never widens.
    assert await _log(client, officer, student_id=records.b1["id"]) == []
    assert await _log(client, officer, school_id=str(callers.school_b.organization_id)) == []


async def test_admins_read_every_schools_log_or_one_schools(
    client: httpx.AsyncClient, callers: Callers, records: Records
) -> None:
    admin = callers.admin.headers
    students = {e["student_id"] for e in await _log(client, admin)}
    assert {records.a1["id"], records.b1["id"]} <= students
    school_b = await _log(client, admin, school_id=str(callers.school_b.organization_id))
    assert {e["student_id"] for e in school_b} == {records.b1["id"]}


async def test_the_trail_of_one_student_is_its_schools_alone(
    client: httpx.AsyncClient, callers: Callers, records: Records
) -> None:
    officer = callers.privacy_officer_a.headers
    own = await client.get(f"/students/{records.a1['id']}/audit", headers=officer)
    assert own.status_code == 200, own.text
    assert any(e["actor_name"] == "Dana Whitfield" for e in own.json()["contents"])
    other = await client.get(f"/students/{records.b1['id']}/audit", headers=officer)
    assert other.status_code == 404 and other.json()["code"] == "not_found"
    missing = "00000000-0000-0000-0000-000000000000"
    assert (await client.get(f"/students/{missing}/audit", headers=officer)).status_code == 404


async def test_a_privacy_officer_reads_no_student_consent_or_referral(
    client: httpx.AsyncClient, callers: Callers, records: Records
) -> None:
    a1, officer = records.a1["id"], callers.privacy_officer_a.headers
    person = bearer(records.tenant.token(roles=["privacy"], sub="pat-1", name="Pat Officer"))
    reads = [
        ("GET", "/students", None),
        ("GET", f"/students/{a1}", None),
        ("POST", "/students/lookup", {"first_name": "Marisol", "last_name": "Quintanilla",
                                      "date_of_birth": "2014-03-09"}),
        ("GET", f"/students/{a1}/consents", None),
        ("GET", f"/consents/{records.consent['id']}", None),
        ("GET", f"/referrals/{records.referral['id']}", None),
        ("GET", "/referrals/outbox", None),
    ]  # fmt: skip
    for headers in (officer, person):
        for method, path, body in reads:
            response = await client.request(method, path, json=body, headers=headers)
            assert response.status_code == 403, (method, path, response.text)
            assert response.json()["code"] == "role_forbidden"
            assert "Marisol" not in response.text


async def test_a_privacy_officer_signed_in_reads_the_log_and_is_not_logged_as_reading(
    client: httpx.AsyncClient, callers: Callers, records: Records
) -> None:
    person = bearer(records.tenant.token(roles=["privacy"], sub="pat-1", name="Pat Officer"))
    entries = await _log(client, person)
    assert {e["student_id"] for e in entries} == {records.a1["id"]}
    assert all(e["actor_subject"] != f"{records.tenant.issuer} pat-1" for e in entries)


async def test_other_roles_get_no_access_log(
    client: httpx.AsyncClient, callers: Callers, records: Records
) -> None:
    for caller in (callers.school_a, callers.provider_a, callers.analyst, callers.partner_app):
        response = await client.get(LOG, headers=caller.headers)
        assert response.status_code == 403, caller.role
    assert (await client.get(LOG)).status_code == 401


async def test_privacy_officer_keys_belong_to_schools(
    client: httpx.AsyncClient, callers: Callers
) -> None:
    def body(org: Any) -> dict[str, Any]:
        return {"name": "privacy desk", "role": "privacy_officer", "organization_id": str(org)}

    made = await client.post(
        "/api-keys", json=body(callers.school_b.organization_id), headers=callers.admin.headers
    )
    assert made.status_code == 201, made.text
    key = {"Authorization": f"Bearer {made.json()['key']}"}
    assert (await client.get(LOG, headers=key)).status_code == 200
    for org in (callers.provider_a.organization_id, callers.analyst.organization_id):
        refused = await client.post("/api-keys", json=body(org), headers=callers.admin.headers)
        assert refused.status_code == 422, refused.text
    refused = await client.post(
        "/api-keys", json={"name": "x", "role": "privacy_officer"}, headers=callers.admin.headers
    )
    assert refused.status_code == 422
