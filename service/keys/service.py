"""Issuing and revoking API keys (administrators and the CLI)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import keys
from service.auth.models import ApiKey
from service.auth.roles import ROLE_ORG_TYPES, Role, fits
from service.catalog.models import Organization
from service.db import utcnow
from service.errors import FieldError, NotFound, Unprocessable
from service.pagination import PageParams, fetch_page
from service.settings import get_settings


def _invalid(field: str, message: str) -> Unprocessable:
    return Unprocessable(
        message,
        code="invalid_key_request",
        errors=[FieldError(loc=["body", field], msg=message, type="value_error")],
    )


async def create_key(
    session: AsyncSession, *, name: str, role: Role, organization_id: uuid.UUID | None
) -> tuple[ApiKey, str]:
    """Store a new key; returns the row and the whole key (the only time it exists in clear)."""
    if role is Role.admin:
        if organization_id is not None:
            raise _invalid("organization_id", "admin keys belong to no organization")
    else:
        if organization_id is None:
            raise _invalid("organization_id", f"a {role.value} key needs an organization_id")
        org = await session.get(Organization, organization_id)
        if org is None:
            raise _invalid("organization_id", f"no organization with id {organization_id}")
        if not fits(role, org.type.value):
            kinds = ", ".join(sorted(ROLE_ORG_TYPES[role] or ()))
            raise _invalid(
                "role",
                f"{role.value} keys belong to organizations of type {kinds}; "
                f"this one is a {org.type.value}",
            )
    new = keys.generate()
    row = ApiKey(
        prefix=new.prefix,
        secret_hash=keys.hash_token(new.token, get_settings().api_key_pepper),
        name=name,
        role=role,
        organization_id=organization_id,
    )
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return row, new.token


async def revoke_key(session: AsyncSession, key_id_or_prefix: str) -> ApiKey:
    try:
        condition = ApiKey.id == uuid.UUID(key_id_or_prefix)
    except ValueError:
        condition = ApiKey.prefix == key_id_or_prefix
    row = await session.scalar(select(ApiKey).where(condition).with_for_update())
    if row is None:
        raise NotFound(f"No API key {key_id_or_prefix}.")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    await session.flush()
    return row


async def list_keys(session: AsyncSession, params: PageParams) -> tuple[Sequence[ApiKey], int]:
    return await fetch_page(session, select(ApiKey), params, ApiKey.created_at.desc(), ApiKey.id)
