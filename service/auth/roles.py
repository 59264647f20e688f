"""Roles an API key or a signed-in person can carry, and whose organizations hold them."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    admin = "admin"
    provider = "provider"
    school = "school"
    analyst = "analyst"
    partner_app = "partner_app"
    privacy_officer = "privacy_officer"


# The organization types (service/catalog/enums.py OrganizationType values) whose staff
# may hold each role, for keys and people alike; None: any type. Admins belong to none.
# Spelled as strings so that auth imports nothing of the catalog.
ROLE_ORG_TYPES: dict[Role, frozenset[str] | None] = {
    Role.provider: frozenset({"provider"}),
    Role.school: frozenset({"school"}),
    Role.privacy_officer: frozenset({"school"}),
    Role.analyst: frozenset({"backbone", "city"}),
    Role.partner_app: None,
}


def fits(role: Role, org_type: str) -> bool:
    """Whether staff of an organization of `org_type` may hold `role`."""
    allowed = ROLE_ORG_TYPES.get(role, frozenset())
    return allowed is None or org_type in allowed
