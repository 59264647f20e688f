"""OpenID Connect bearer tokens: staff who sign in with their organization's identity
provider, beside the API keys of partner applications.

A token is checked with PyJWT against its issuer's key set (service/auth/jwks.py):
`iss` must be a configured issuer, exactly; `alg` one of that issuer's (asymmetric)
algorithms; the signature the key its `kid` names; `aud` one of the issuer's audiences;
`exp`, `nbf` and `iat` within `oidc_leeway_s`. Then its claims say who the person is:
`role_claim` mapped through `role_map`, the organization (fixed per issuer, or a claim),
`sub`, and the display name.

A token that fails a check is a 401 with a code of its own and RFC 6750's
`WWW-Authenticate: Bearer error="invalid_token"`. An authentic token whose person has no
Youthlink role, or no organization that exists and may hold it, is a 403: signing in
again would not change the answer.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from sqlalchemy import String, Uuid, column, select, table
from sqlalchemy.sql import ClauseElement

from service.auth.jwks import KeySet
from service.auth.roles import Role, fits
from service.errors import Forbidden, Unauthorized
from service.reader import Prepared, Reader, param
from service.settings import OidcIssuer, Settings, get_settings

# Three base64url parts: the signature may be empty (alg "none", refused below).
JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
REQUIRED_CLAIMS = ["iss", "sub", "aud", "exp", "iat"]
SUBJECT_MAX = 255  # audit_log.actor_subject, referral_events.actor_subject
NAME_MAX = 200  # audit_log.actor_name


def looks_like_jwt(token: str) -> bool:
    return bool(JWT_SHAPE.match(token))


class TokenRefused(Unauthorized):
    """A 401 for a token that is not valid, with its own code (README.md, People and keys)."""

    def __init__(self, code: str, detail: str) -> None:
        # error_description must be plain: no quote or backslash (RFC 6750, section 3).
        assert '"' not in detail and "\\" not in detail
        challenge = f'Bearer error="invalid_token", error_description="{detail}"'
        super().__init__(detail, code=code, headers={"WWW-Authenticate": challenge})


def _refusal(error: jwt.PyJWTError) -> TokenRefused:
    """What PyJWT found, as our refusal."""
    if isinstance(error, jwt.ExpiredSignatureError):
        return TokenRefused("token_expired", "The token has expired.")
    if isinstance(error, jwt.ImmatureSignatureError):
        return TokenRefused("token_not_yet_valid", "The token is not valid yet (nbf or iat).")
    if isinstance(error, jwt.InvalidAudienceError):
        return TokenRefused("token_audience", "The token is not meant for this API (aud).")
    if isinstance(error, jwt.InvalidIssuerError):
        return TokenRefused("token_issuer", "The token's issuer is not one this API trusts.")
    if isinstance(error, jwt.InvalidSignatureError):
        return TokenRefused("token_signature", "The token's signature does not verify.")
    if isinstance(error, jwt.InvalidAlgorithmError):
        return TokenRefused("token_algorithm", "The token's signature algorithm is not allowed.")
    if isinstance(error, jwt.MissingRequiredClaimError):
        return TokenRefused("token_invalid", f"The token lacks the {error.claim} claim.")
    if isinstance(error, jwt.InvalidKeyError):
        return TokenRefused("token_invalid", "The issuer's key for this token is too weak.")
    if isinstance(error, jwt.DecodeError):
        return TokenRefused("token_malformed", "The token is not a well-formed JWT.")
    return TokenRefused("token_invalid", "The token's claims are not valid.")


@dataclass(frozen=True)
class Person:
    """A signed-in person, as their token's claims describe them."""

    role: Role
    organization_id: uuid.UUID | None
    subject: str  # "<iss> <sub>"
    display_name: str | None


class Verifier:
    """Checks tokens against the configured issuers; one per process and settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.key = _settings_key(settings)
        self.issuers = {i.issuer: i for i in settings.oidc_issuers}
        self.keysets = {i.issuer: KeySet(i, settings) for i in settings.oidc_issuers}

    async def verify(self, token: str) -> tuple[OidcIssuer, dict[str, Any]]:
        """The issuer and the verified claims of `token`, or a TokenRefused."""
        try:
            header = jwt.get_unverified_header(token)
            # Read unverified only to pick the issuer whose keys then verify it all.
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise TokenRefused("token_malformed", "The token is not a well-formed JWT.") from None
        issued_by = unverified.get("iss")
        issuer = self.issuers.get(issued_by) if isinstance(issued_by, str) else None
        if issuer is None:
            raise TokenRefused("token_issuer", "The token's issuer is not one this API trusts.")
        alg = header.get("alg")
        if alg not in issuer.algorithms:
            raise TokenRefused("token_algorithm", "The token's signature algorithm is not allowed.")
        kid = header.get("kid")
        jwk = await self.keysets[issuer.issuer].key(kid if isinstance(kid, str) else None)
        if jwk is None:
            raise TokenRefused("token_key_unknown", "The issuer has no key with the token's kid.")
        if jwk.get("alg", alg) != alg:
            raise TokenRefused("token_algorithm", "The token's key is for another algorithm.")
        try:
            key = jwt.PyJWK(jwk, algorithm=alg)  # fails when the key's type does not fit alg
        except jwt.PyJWTError:
            raise TokenRefused(
                "token_algorithm", "The token's key is for another algorithm."
            ) from None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=issuer.audiences,
                issuer=issuer.issuer,
                leeway=self.settings.oidc_leeway_s,
                options={"require": REQUIRED_CLAIMS, "enforce_minimum_key_length": True},
            )
        except jwt.PyJWTError as error:
            raise _refusal(error) from None
        return issuer, claims


def claim(claims: dict[str, Any], path: str) -> Any:
    """The claim at `path`; dots go into nested objects (realm_access.roles)."""
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def role_of(issuer: OidcIssuer, claims: dict[str, Any]) -> Role:
    """The first role of `role_map` whose claim value the token carries, else 403."""
    value = claim(claims, issuer.role_claim)
    held = {value} if isinstance(value, str) else set(value) if isinstance(value, list) else set()
    for claimed, role in issuer.role_map.items():
        if claimed in held:
            return Role(role)
    raise Forbidden(
        f"Your sign-in carries no role this API maps ({issuer.role_claim}); ask your "
        "organization's administrator for access.",
        code="token_no_role",
    )


def _organization_statement() -> ClauseElement:
    organizations = table("organizations", column("id", Uuid), column("type", String))
    wanted = organizations.c.id == param("organization_id", Uuid)
    return select(organizations.c.type).where(wanted)


ORGANIZATION_TYPE = Prepared(_organization_statement)


async def organization_of(
    reader: Reader, issuer: OidcIssuer, claims: dict[str, Any], role: Role
) -> uuid.UUID | None:
    """The person's organization: the issuer's, or the one the claim names. It must
    exist and be of a type that may hold `role` (admins belong to none)."""
    if role is Role.admin:
        return None
    organization_id = issuer.organization_id
    if organization_id is None:
        assert issuer.organization_claim is not None
        value = claim(claims, issuer.organization_claim)
        try:
            organization_id = uuid.UUID(value) if isinstance(value, str) else None
        except ValueError:
            organization_id = None
    row = None
    if organization_id is not None:
        row = await reader.fetchrow(ORGANIZATION_TYPE(), organization_id=organization_id)
    if row is None or not fits(role, row["type"]):
        raise Forbidden(
            f"Your sign-in names no organization of Youthlink that can hold the {role.value} "
            "role; ask your organization's administrator.",
            code="token_organization",
        )
    return organization_id


def _text(value: Any, limit: int) -> str | None:
    return (value.strip()[:limit] or None) if isinstance(value, str) else None


async def person(reader: Reader, token: str) -> Person:
    """Who the token says is calling: verified, mapped to a role and an organization."""
    issuer, claims = await verifier().verify(token)
    sub = claims["sub"]
    subject = f"{issuer.issuer} {sub}" if isinstance(sub, str) and sub else ""
    if not subject or len(subject) > SUBJECT_MAX:
        raise TokenRefused("token_invalid", "The token's sub claim is empty or too long.")
    role = role_of(issuer, claims)
    organization_id = await organization_of(reader, issuer, claims, role)
    name = _text(claim(claims, issuer.name_claim), NAME_MAX)
    return Person(role, organization_id, subject, name)


def _settings_key(settings: Settings) -> tuple[Any, ...]:
    """The settings a verifier is built from, compared by value (so a change to them, as
    tests make on the one Settings object, starts a verifier afresh, key sets included)."""
    return (
        settings.oidc_issuers,
        settings.oidc_leeway_s,
        settings.oidc_jwks_ttl_s,
        settings.oidc_jwks_min_refresh_s,
        settings.oidc_timeout_s,
    )


_current: Verifier | None = None


def verifier() -> Verifier:
    """This process's verifier for the current OpenID Connect settings."""
    global _current
    settings = get_settings()
    if _current is None or _current.key != _settings_key(settings):
        _current = Verifier(settings)
    return _current
