"""OpenID Connect bearer tokens against a real issuer on loopback (tests/oidc_issuer.py):
people sign in beside API keys, every refusal is a 401 with its own code, key rotation
is picked up, and the issuer is never hammered."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest
from jwt.warnings import InsecureKeyLengthWarning
from pydantic import ValidationError

from service.auth import oidc
from service.auth.roles import Role
from service.settings import OidcIssuer, PersonRole, Settings
from tests.conftest import Callers
from tests.oidc_issuer import AUDIENCE, Issuers, Tenant, b64url, bearer, configured
from tests.referrals.conftest import post, student_body


@pytest.fixture
def tenant(issuers: Issuers) -> Tenant:
    return issuers.tenant()


@pytest.fixture
def signed_in(tenant: Tenant, callers: Callers) -> Iterator[Settings]:
    """The tenant is school A's identity provider; an unknown kid re-fetches at once."""
    issuer = tenant.config(organization_id=str(callers.school_a.organization_id))
    with configured(oidc_issuers=[issuer], oidc_jwks_min_refresh_s=0) as settings:
        yield settings


@pytest.fixture
async def student(client: httpx.AsyncClient, callers: Callers) -> dict[str, Any]:
    return dict(await post(client, callers.school_a, "/students", student_body()))


async def test_counselors_signed_in_read_a_student_and_the_audit_names_each_one(
    client: httpx.AsyncClient,
    callers: Callers,
    tenant: Tenant,
    signed_in: Settings,
    student: dict[str, Any],
) -> None:
    path = f"/students/{student['id']}"
    dana = await client.get(path, headers=bearer(tenant.token()))
    assert dana.status_code == 200, dana.text
    assert dana.json()["first_name"] == "Marisol"
    lee = await client.get(path, headers=bearer(tenant.token(sub="lee-2", name="Lee Park")))
    assert lee.status_code == 200, lee.text

    audit = await client.get(f"{path}/audit", headers=callers.admin.headers)
    assert audit.status_code == 200, audit.text
    entries = audit.json()["contents"]
    reads = [e for e in entries if e["action"] == "student.read"]
    assert [(e["actor_subject"], e["actor_name"]) for e in reads] == [
        (f"{tenant.issuer} lee-2", "Lee Park"),  # newest first
        (f"{tenant.issuer} dana-7", "Dana Whitfield"),
    ]
    for entry in reads:
        assert entry["actor_key_id"] is None
        assert entry["actor_role"] == "school"
        assert entry["actor_organization_id"] == str(callers.school_a.organization_id)
        assert entry["student_id"] == student["id"]
    (created,) = [e for e in entries if e["action"] == "student.create"]
    assert created["actor_key_id"] is not None and created["actor_subject"] is None


def _now() -> int:
    return int(time.time())


def _tampered(tenant: Tenant) -> str:
    header, _, signature = tenant.token().split(".")
    forged = b64url(json.dumps(tenant.claims(sub="someone-else")).encode())
    return f"{header}.{forged}.{signature}"


def _unpublished_kid(tenant: Tenant) -> str:
    tenant.add_key("rsa-unpublished", publish=False)
    return tenant.token(kid="rsa-unpublished")


def _rsa_kid_on_an_ec_signature(tenant: Tenant) -> str:
    tenant.add_key("ec-1", "EC")
    return jwt.encode(
        tenant.claims(), tenant.keys["ec-1"], algorithm="ES256", headers={"kid": "rsa-1"}
    )


def _weak_key(tenant: Tenant) -> str:
    tenant.add_key("rsa-1024", bits=1024)
    with warnings.catch_warnings():  # PyJWT warns the signer; the verifier refuses
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return tenant.token(kid="rsa-1024")


RS256_HEADER = b64url(b'{"alg": "RS256"}')
REFUSALS: dict[str, tuple[Callable[[Tenant], str], str]] = {
    "expired": (lambda t: t.token(iat=_now() - 900, exp=_now() - 120), "token_expired"),
    "not yet valid": (lambda t: t.token(nbf=_now() + 600), "token_not_yet_valid"),
    "issued in the future": (lambda t: t.token(iat=_now() + 600), "token_not_yet_valid"),
    "wrong audience": (lambda t: t.token(aud="another-api"), "token_audience"),
    "no audience of ours in a list": (lambda t: t.token(aud=["a", "b"]), "token_audience"),
    "issuer not configured": (lambda t: t.token(iss=t.issuer + "-other"), "token_issuer"),
    "unknown key id": (_unpublished_kid, "token_key_unknown"),
    "tampered payload": (_tampered, "token_signature"),
    "alg none": (lambda t: t.unsigned(), "token_algorithm"),
    "HS256 with the public key": (lambda t: t.hs256_with_public_key(), "token_algorithm"),
    "RS384, not allowed": (lambda t: t.token(alg="RS384"), "token_algorithm"),
    "key of another type": (_rsa_kid_on_an_ec_signature, "token_algorithm"),
    "an RSA key under 2048 bits": (_weak_key, "token_invalid"),
    "unknown critical header": (
        lambda t: t.token(headers={"crit": ["x-unknown"], "x-unknown": True}),
        "token_malformed",
    ),
    "no exp": (lambda t: t.token(exp=None), "token_invalid"),
    "no sub": (lambda t: t.token(sub=None), "token_invalid"),
    "not JSON inside": (lambda t: "eyJub3Q.anNvbg.c2ln", "token_malformed"),
    "payload not an object": (lambda t: f"{RS256_HEADER}.{b64url(b'[1]')}.c2ln", "token_malformed"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
async def test_a_token_that_does_not_verify_is_a_401_with_its_own_code(
    client: httpx.AsyncClient, tenant: Tenant, signed_in: Settings, case: str
) -> None:
    make, code = REFUSALS[case]
    response = await client.get("/students", headers=bearer(make(tenant)))
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code, body
    challenge = response.headers["WWW-Authenticate"]
    assert challenge == f'Bearer error="invalid_token", error_description="{body["detail"]}"'


async def test_within_the_leeway_an_expired_token_still_passes(
    client: httpx.AsyncClient, tenant: Tenant, signed_in: Settings
) -> None:
    assert signed_in.oidc_leeway_s == 30
    token = tenant.token(iat=_now() - 600, exp=_now() - 10)
    assert (await client.get("/students", headers=bearer(token))).status_code == 200


async def test_es256_and_ps256_tokens_verify(
    client: httpx.AsyncClient, tenant: Tenant, signed_in: Settings
) -> None:
    tenant.add_key("ec-1", "EC")
    for token in (tenant.token(kid="ec-1", alg="ES256"), tenant.token(alg="PS256")):
        response = await client.get("/students", headers=bearer(token))
        assert response.status_code == 200, response.text


async def test_a_rotated_key_is_picked_up_after_one_refresh_and_a_retired_one_stops(
    client: httpx.AsyncClient, tenant: Tenant, signed_in: Settings
) -> None:
    old = tenant.token()
    assert (await client.get("/students", headers=bearer(old))).status_code == 200
    assert (tenant.discovery_fetches, tenant.jwks_fetches) == (1, 1)
    tenant.rotate("rsa-2")
    new = await client.get("/students", headers=bearer(tenant.token(kid="rsa-2")))
    assert new.status_code == 200, new.text
    assert tenant.jwks_fetches == 2  # one refresh for the new kid; discovery is kept
    assert tenant.discovery_fetches == 1
    retired = await client.get("/students", headers=bearer(old))
    assert retired.status_code == 401 and retired.json()["code"] == "token_key_unknown"


async def test_a_flood_of_unknown_key_ids_costs_the_issuer_one_fetch(
    client: httpx.AsyncClient, tenant: Tenant, callers: Callers
) -> None:
    issuer = tenant.config(organization_id=str(callers.school_a.organization_id))
    with configured(oidc_issuers=[issuer], oidc_jwks_min_refresh_s=1):
        assert (await client.get("/students", headers=bearer(tenant.token()))).status_code == 200
        assert tenant.jwks_fetches == 1
        await asyncio.sleep(1.05)  # past the minimum interval: one refresh is allowed
        signing = tenant.keys["rsa-1"]
        for n in range(12):
            token = jwt.encode(
                tenant.claims(), signing, algorithm="RS256", headers={"kid": f"x{n}"}
            )
            response = await client.get("/students", headers=bearer(token))
            assert response.status_code == 401 and response.json()["code"] == "token_key_unknown"
        assert tenant.jwks_fetches == 2


async def test_concurrent_callers_share_one_fetch(tenant: Tenant, signed_in: Settings) -> None:
    keyset = oidc.verifier().keysets[tenant.issuer]
    found = await asyncio.gather(*(keyset.key("rsa-1") for _ in range(8)))
    assert all(k is not None and k["kid"] == "rsa-1" for k in found)
    assert tenant.jwks_fetches == 1


async def test_api_keys_still_work_beside_tokens(
    client: httpx.AsyncClient, callers: Callers, signed_in: Settings
) -> None:
    assert (await client.get("/students", headers=callers.school_a.headers)).status_code == 200
    for bad in ("nonsense", "yl_12345678_wrong"):
        response = await client.get("/students", headers=bearer(bad))
        assert response.status_code == 401 and response.json()["code"] == "invalid_api_key"


async def test_roles_come_from_the_role_map_in_its_order(
    client: httpx.AsyncClient, tenant: Tenant, signed_in: Settings, student: dict[str, Any]
) -> None:
    none = await client.get("/students", headers=bearer(tenant.token(roles=["janitor"])))
    assert none.status_code == 403 and none.json()["code"] == "token_no_role"
    missing = await client.get("/students", headers=bearer(tenant.token(roles=None)))
    assert missing.status_code == 403 and missing.json()["code"] == "token_no_role"
    # "counselor" comes before "privacy" in the role map: this person is school staff.
    both = tenant.token(roles=["privacy", "counselor"])
    assert (await client.get(f"/students/{student['id']}", headers=bearer(both))).status_code == 200
    officer = tenant.token(roles="privacy")  # a single string counts too
    response = await client.get(f"/students/{student['id']}", headers=bearer(officer))
    assert response.status_code == 403 and response.json()["code"] == "role_forbidden"


async def test_a_claim_can_name_the_organization(
    client: httpx.AsyncClient, callers: Callers, tenant: Tenant, student: dict[str, Any]
) -> None:
    issuer = tenant.config(organization_claim="youthlink_org", role_claim="realm_access.roles")

    def token(org: Any) -> dict[str, str]:
        return bearer(tenant.token(youthlink_org=org, realm_access={"roles": ["counselor"]}))

    with configured(oidc_issuers=[issuer]):
        own = await client.get(
            f"/students/{student['id']}", headers=token(str(callers.school_a.organization_id))
        )
        assert own.status_code == 200, own.text
        other = await client.get(
            f"/students/{student['id']}", headers=token(str(callers.school_b.organization_id))
        )
        assert other.status_code == 404  # school B's counselor: as if it did not exist
        for org in (str(uuid.uuid4()), str(callers.provider_a.organization_id), "not-an-id", None):
            refused = await client.get("/students", headers=token(org))
            assert refused.status_code == 403, org
            assert refused.json()["code"] == "token_organization"


async def test_an_admin_signed_in_belongs_to_no_organization(
    client: httpx.AsyncClient, tenant: Tenant, signed_in: Settings
) -> None:
    token = tenant.token(roles=["district-it"], sub="it-1")
    assert (await client.get("/api-keys", headers=bearer(token))).status_code == 200
    person = await oidc.verifier().verify(token)
    assert person[1]["sub"] == "it-1"


async def test_an_unreachable_identity_provider_is_a_503(
    client: httpx.AsyncClient, tenant: Tenant, callers: Callers
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    org = str(callers.school_a.organization_id)
    for issuer in (
        tenant.config(organization_id=org, jwks_uri=f"http://127.0.0.1:{closed}/jwks"),
        tenant.config(organization_id=org),  # discovery answers 503
    ):
        tenant.down = issuer.get("jwks_uri") is None
        with configured(oidc_issuers=[issuer]):
            response = await client.get("/students", headers=bearer(tenant.token()))
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "identity_provider_unavailable"
        assert response.headers["Retry-After"] == "5"


async def test_keys_already_fetched_keep_serving_while_the_issuer_is_down(
    client: httpx.AsyncClient, tenant: Tenant, callers: Callers
) -> None:
    issuer = tenant.config(organization_id=str(callers.school_a.organization_id))
    with configured(oidc_issuers=[issuer], oidc_jwks_ttl_s=1, oidc_jwks_min_refresh_s=0):
        assert (await client.get("/students", headers=bearer(tenant.token()))).status_code == 200
        tenant.down = True
        await asyncio.sleep(1.05)  # the key set is due for a fetch, which fails
        response = await client.get("/students", headers=bearer(tenant.token()))
        assert response.status_code == 200, response.text


def test_issuer_settings_are_validated() -> None:
    good: dict[str, Any] = {
        "issuer": "https://login.example.org/district",
        "audiences": [AUDIENCE],
        "organization_id": str(uuid.uuid4()),
        "role_map": {"counselor": "school"},
    }
    assert OidcIssuer(**good).algorithms == ["RS256", "PS256", "ES256"]
    assert OidcIssuer(**{**good, "issuer": "http://localhost:8080"}).issuer
    bad: list[dict[str, Any]] = [
        {**good, "issuer": "http://login.example.org"},  # http off loopback
        {**good, "jwks_uri": "ftp://login.example.org/keys"},
        {**good, "organization_claim": "org"},  # both
        {k: v for k, v in good.items() if k != "organization_id"},  # neither
        {**good, "audiences": []},
        {**good, "role_map": {}},
        {**good, "role_map": {"app": "partner_app"}},
        {**good, "algorithms": ["none"]},
        {**good, "algorithms": ["HS256"]},
        {**good, "unknown": 1},
    ]
    for entry in bad:
        with pytest.raises(ValidationError):
            OidcIssuer(**entry)
    with pytest.raises(ValidationError, match="configured twice"):
        Settings(oidc_issuers=[good, good])


def test_issuers_are_read_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = {
        "issuer": "https://login.example.org/district",
        "audiences": [AUDIENCE],
        "organization_claim": "youthlink_org",
        "role_claim": "groups",
        "role_map": {"Counselors": "school", "Privacy": "privacy_officer"},
    }
    monkeypatch.setenv("YOUTHLINK_OIDC_ISSUERS", json.dumps([entry]))
    monkeypatch.setenv("YOUTHLINK_OIDC_LEEWAY_S", "10")
    settings = Settings()
    (issuer,) = settings.oidc_issuers
    assert issuer.role_map == entry["role_map"] and issuer.name_claim == "name"
    assert settings.oidc_leeway_s == 10
    monkeypatch.setenv("YOUTHLINK_OIDC_ISSUERS", json.dumps([{**entry, "role_map": {}}]))
    with pytest.raises(ValidationError):
        Settings()


def test_person_roles_are_roles() -> None:
    assert set(PersonRole.__args__) <= {r.value for r in Role}  # type: ignore[attr-defined]


async def test_a_person_signed_in_gets_idempotent_retries_of_their_own(
    client: httpx.AsyncClient, tenant: Tenant, signed_in: Settings
) -> None:
    """Idempotency-Keys belong to the person (issuer and subject), not to a shared key."""
    body = student_body(student_number="S-IDEM", first_name="Idem")
    dana = {**bearer(tenant.token()), "Idempotency-Key": "new-student-1"}
    first = await client.post("/students", json=body, headers=dana)
    assert first.status_code == 201, first.text
    again = await client.post("/students", json=body, headers=dana)
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == first.json()["id"]
    lee = {**bearer(tenant.token(sub="lee-2", name="Lee Park")), "Idempotency-Key": "new-student-1"}
    other = await client.post("/students", json=body, headers=lee)
    assert other.status_code == 409  # Lee's key is Lee's: a real second create, a duplicate
