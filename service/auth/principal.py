"""Who is calling: resolved once per request from the Authorization header, which holds
an API key (a partner application, or an organization's shared key) or an OpenID
Connect token (a person signed in with their organization's identity provider)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import DateTime, String, Uuid, or_, select, update
from sqlalchemy.sql import ClauseElement

from service.auth import keys, oidc
from service.auth.key_cache import KeyCache
from service.auth.models import ApiKey
from service.auth.roles import Role
from service.db import ReaderDep, utcnow
from service.errors import Forbidden, Unauthorized
from service.reader import Prepared, Reader, param
from service.settings import get_settings


@dataclass(frozen=True)
class Principal:
    """Who is calling: an API key (key_id), a person signed in with their organization's
    identity provider (subject, display_name), or the anonymous caller (role None)."""

    role: Role | None = None
    organization_id: uuid.UUID | None = None
    key_id: uuid.UUID | None = None
    subject: str | None = None  # "<issuer> <sub>" of an OpenID Connect token
    display_name: str | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.role is None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.admin


ANONYMOUS = Principal()

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    bearerFormat="API key (yl_...) or JWT",
    description="`Authorization: Bearer <credential>`, where the credential is either an "
    "API key (`yl_xxxxxxxx_...`, for partner applications and organization keys) or an "
    "OpenID Connect token (a JWT) from an identity provider this deployment trusts, for "
    "staff who sign in as themselves. Either one carries a role and an organization; a "
    "token also names the person, and the audit trail records who it was.",
)

_INVALID = "The API key is not valid, or it was revoked."
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _key_statement() -> ClauseElement:
    columns = (ApiKey.id, ApiKey.secret_hash, ApiKey.role, ApiKey.organization_id)
    wanted = ApiKey.prefix == param("prefix", String)
    return select(*columns, ApiKey.last_used_at).where(wanted, ApiKey.revoked_at.is_(None))


def _used_statement() -> ClauseElement:
    stale = or_(
        ApiKey.last_used_at.is_(None), ApiKey.last_used_at < param("since", DateTime(timezone=True))
    )
    wanted = ApiKey.id == param("key_id", Uuid)
    return (
        update(ApiKey)
        .where(wanted, stale)
        .values(last_used_at=param("now", DateTime(timezone=True)))
    )


KEY = Prepared(_key_statement)
USED = Prepared(_used_statement)


async def get_principal(
    request: Request,
    reader: ReaderDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller. A key's row comes from the process's key cache (auth/key_cache.py),
    or one statement on the reads pool (no unit of work: an anonymous read opens no
    session at all); its `last_used_at` is written at most once a minute, by a statement
    of its own. Anything else shaped like a JWT is an OpenID Connect token
    (service/auth/oidc.py)."""
    if credentials is None:
        return ANONYMOUS
    parsed = keys.split_token(credentials.credentials)
    if parsed is None:
        if oidc.looks_like_jwt(credentials.credentials):
            return await _person(reader, credentials.credentials)
        raise Unauthorized(_INVALID, code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
    prefix, token = parsed
    cache: KeyCache | None = getattr(request.app.state, "key_cache", None)
    row = cache.lookup(prefix) if cache is not None else None
    if row is None:
        generation = cache.generation if cache is not None else 0
        row = await reader.fetchrow(KEY(), prefix=prefix)
        if row is not None and cache is not None:
            cache.store(prefix, row, generation)
    if row is None or not keys.matches(token, row["secret_hash"], get_settings().api_key_pepper):
        raise Unauthorized(_INVALID, code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
    now = utcnow()
    since = now - LAST_USED_RESOLUTION
    if row["last_used_at"] is None or row["last_used_at"] < since:
        await reader.fetch(USED(), key_id=row["id"], since=since, now=now)
        if cache is not None:
            cache.used(prefix, now)
    role = Role[row["role"]]
    return Principal(role=role, organization_id=row["organization_id"], key_id=row["id"])


async def _person(reader: Reader, token: str) -> Principal:
    """A signed-in person (service/auth/oidc.py): no key, their subject and name."""
    who = await oidc.person(reader, token)
    return Principal(
        role=who.role,
        organization_id=who.organization_id,
        subject=who.subject,
        display_name=who.display_name,
    )


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def check_roles(principal: Principal, roles: tuple[Role, ...]) -> Principal:
    """The caller must hold one of `roles` (401 when anonymous, 403 otherwise)."""
    if principal.is_anonymous:
        raise Unauthorized(
            "This operation needs an API key or a signed-in person's token.",
            code="authentication_required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if principal.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise Forbidden(f"This operation is for the roles: {allowed}.", code="role_forbidden")
    return principal


def require_roles(*roles: Role) -> Any:
    """Dependency: the caller must hold one of `roles` (`check_roles`)."""

    async def check(principal: PrincipalDep, request: Request) -> Principal:
        return check_roles(principal, roles)

    return Depends(check)


# `openapi_extra` of operations anyone may call, where a key only widens what is seen.
# FastAPI appends it to the operation's [{"ApiKey": []}]: an empty requirement beside the
# key is OpenAPI's way to say authentication is optional.
OPTIONAL_AUTH: dict[str, Any] = {"security": [{}]}
