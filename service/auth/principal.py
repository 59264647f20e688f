"""Who is calling: resolved once per request from the Authorization header."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select

from service.auth import keys
from service.auth.models import ApiKey
from service.auth.roles import Role
from service.db import SessionDep, utcnow
from service.errors import Forbidden, Unauthorized
from service.settings import get_settings


@dataclass(frozen=True)
class Principal:
    """An authenticated API key, or the anonymous caller (role None)."""

    role: Role | None = None
    organization_id: uuid.UUID | None = None
    key_id: uuid.UUID | None = None

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
    description="An API key (`yl_xxxxxxxx_...`) sent as `Authorization: Bearer <key>`.",
)

_INVALID = "The API key is not valid, or it was revoked."
LAST_USED_RESOLUTION = timedelta(minutes=1)


async def get_principal(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None:
        return ANONYMOUS
    parsed = keys.split_token(credentials.credentials)
    if parsed is None:
        raise Unauthorized(_INVALID, code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
    prefix, token = parsed
    row = await session.scalar(
        select(ApiKey).where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
    )
    if row is None or not keys.matches(token, row.secret_hash, get_settings().api_key_pepper):
        raise Unauthorized(_INVALID, code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
    now = utcnow()
    if row.last_used_at is None or row.last_used_at < now - LAST_USED_RESOLUTION:
        row.last_used_at = now  # written with the request's commit, at most once a minute
    return Principal(role=row.role, organization_id=row.organization_id, key_id=row.id)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_roles(*roles: Role) -> Any:
    """Dependency: the caller must hold one of `roles` (401 when anonymous, 403 otherwise)."""

    async def check(principal: PrincipalDep, request: Request) -> Principal:
        if principal.is_anonymous:
            raise Unauthorized(
                "This operation needs an API key.",
                code="authentication_required",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if principal.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise Forbidden(f"This operation is for the roles: {allowed}.", code="role_forbidden")
        return principal

    return Depends(check)


# `openapi_extra` of operations anyone may call, where a key only widens what is seen.
# FastAPI appends it to the operation's [{"ApiKey": []}]: an empty requirement beside the
# key is OpenAPI's way to say authentication is optional.
OPTIONAL_AUTH: dict[str, Any] = {"security": [{}]}
