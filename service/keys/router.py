"""API keys, for administrators."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from service.audit.service import record
from service.auth.principal import Principal, require_roles
from service.auth.roles import Role
from service.db import SessionDep
from service.errors import problem_responses
from service.keys import service
from service.keys.schemas import KeyCreate, KeyCreated, KeyOut
from service.pagination import Page, PageParams, page_params

router = APIRouter(tags=["api-keys"])
Admin = Annotated[Principal, require_roles(Role.admin)]


@router.post(
    "/api-keys",
    operation_id="api_keys_create",
    status_code=status.HTTP_201_CREATED,
    summary="Issue an API key (the key is in this response only)",
    responses=problem_responses(401, 403, 422),
)
async def api_keys_create(session: SessionDep, principal: Admin, body: KeyCreate) -> KeyCreated:
    """Issues an API key with the given role and returns it; the whole key is in this response only
    and cannot be read again, so store it now. Admin keys only. Admin keys belong to no
    organization; every other role needs an `organization_id` of a matching type (422 otherwise):
    a provider for provider keys, a school for school keys, a backbone or city organization for
    analysts, and any organization for partner apps.
    """
    row, token = await service.create_key(
        session, name=body.name, role=body.role, organization_id=body.organization_id
    )
    await record(session, principal, "api_key.create", "api_key", row.id)
    return KeyCreated.model_validate({**KeyOut.model_validate(row).model_dump(), "key": token})


@router.get(
    "/api-keys",
    operation_id="api_keys_list",
    summary="List API keys (never their secrets)",
    responses=problem_responses(401, 403, 422),
)
async def api_keys_list(
    session: SessionDep, principal: Admin, pages: Annotated[PageParams, Depends(page_params)]
) -> Page[KeyOut]:
    """Returns a page of every API key, newest first, with its prefix, role, organization, last use
    (to the minute) and revocation time, never its secret. Admin keys only.
    """
    rows, total = await service.list_keys(session, pages)
    return Page[KeyOut].build([KeyOut.model_validate(r) for r in rows], total, pages)


@router.delete(
    "/api-keys/{key_id}",
    operation_id="api_keys_revoke",
    summary="Revoke an API key at once",
    responses=problem_responses(401, 403, 404),
)
async def api_keys_revoke(session: SessionDep, principal: Admin, key_id: uuid.UUID) -> KeyOut:
    """Revokes the key at once, so that later requests with it answer 401, and returns its record
    with `revoked_at`. Revoking a key already revoked changes nothing and returns it as is. Admin
    keys only; an unknown key answers 404.
    """
    row = await service.revoke_key(session, str(key_id))
    await record(session, principal, "api_key.revoke", "api_key", row.id)
    return KeyOut.model_validate(row)
