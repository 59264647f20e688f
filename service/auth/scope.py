"""Organization scoping: the ONE place that decides which rows a principal may see or change.

Every repository query that touches organization-owned rows filters through these
functions. A row outside the caller's scope is reported as 404 by the caller, never
403, so nobody learns that it exists.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, false, or_, true
from sqlalchemy.orm import QueryableAttribute

from service.auth.principal import Principal
from service.auth.roles import Role

OrgColumn = ColumnElement[uuid.UUID] | QueryableAttribute[uuid.UUID]

WRITER_ROLES = frozenset({Role.admin, Role.provider, Role.school})


def visible_org_ids(principal: Principal) -> frozenset[uuid.UUID] | None:
    """Organizations whose private rows the principal may read; None means all."""
    if principal.is_admin:
        return None
    if principal.organization_id is None:
        return frozenset()
    return frozenset({principal.organization_id})


def owned_by_visible_org(column: OrgColumn, principal: Principal) -> ColumnElement[bool]:
    orgs = visible_org_ids(principal)
    if orgs is None:
        return true()
    if not orgs:
        return false()
    return column.in_(orgs)


def public_or_owned(
    is_public: ColumnElement[bool], org_column: OrgColumn, principal: Principal
) -> ColumnElement[bool]:
    """Rows anyone may read (is_public) plus every row of the principal's organizations."""
    orgs = visible_org_ids(principal)
    if orgs is None:
        return true()
    if not orgs:
        return is_public
    return or_(is_public, org_column.in_(orgs))


def can_write_org(principal: Principal, organization_id: uuid.UUID) -> bool:
    """Whether the principal may change rows owned by `organization_id`."""
    if principal.role not in WRITER_ROLES:
        return False
    orgs = visible_org_ids(principal)
    return orgs is None or organization_id in orgs
