"""What the catalog's services share: 404 for what the caller may not see or change,
and deletes that refuse to break history."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import scope
from service.auth.principal import Principal
from service.catalog.models import Organization, Program
from service.errors import Conflict, NotFound


def not_found(kind: str, ident: uuid.UUID) -> NotFound:
    return NotFound(f"No {kind} with id {ident} is visible to you.")


def require_write(
    principal: Principal, organization_id: uuid.UUID, kind: str, ident: uuid.UUID
) -> None:
    if not scope.can_write_org(principal, organization_id):
        raise not_found(kind, ident)


async def delete_or_conflict(session: AsyncSession, row: Organization | Program, kind: str) -> None:
    """Delete `row`, or 409 when referrals, students or consents still point at it: their
    history must stay whole (close a program instead of deleting it)."""
    try:
        async with session.begin_nested():
            await session.delete(row)
            await session.flush()
    except IntegrityError as exc:
        if "violates foreign key constraint" not in str(exc.orig):
            raise
        raise Conflict(
            f"This {kind} has referrals, students or consents on record; "
            "set its status to closed instead of deleting it.",
            code="in_use",
        ) from None
