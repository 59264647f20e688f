"""Organization scoping: the ONE place that decides which rows a principal may see.

`readable(Model, principal)` is the condition every query of an owned model filters
with (after Polar's `get_readable_statement`); `get_readable` fetches one row through it
and answers 404 when it is not there, so a foreign row looks exactly like a missing
one. `public_program()` is what anyone may see of the catalog: search, HSDS, the
directory's figures and anonymous reads all use it.

The rules name the models they govern, which live in their domains: they are read on
first use (`_rules`), so this module imports no domain when it is loaded.

| model | who reads it |
|---|---|
| Program | anyone: active programs; its organization's staff: any status; admins: all |
| Organization | keys: all; anonymous: organizations with a public program |
| Location | whoever may read its organization |
| Student, Consent | their school's staff (not its privacy officers); admins |
| Referral | its school's and its provider's staff; admins |
| WebhookEndpoint | its organization's staff; admins |
| AuditEntry | entries about a school's students: its privacy officers; admins: all |

A privacy officer reads who accessed their school's students (the audit trail,
`audited_students`), never the records themselves.

Aggregates differ in one way (`counted_referrals`): analysts count every referral in the
coordination metrics, though they read none of them one by one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, exists, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from service.auth.principal import Principal
from service.auth.roles import Role
from service.errors import Forbidden, NotFound

OrgColumn = ColumnElement[uuid.UUID] | QueryableAttribute[uuid.UUID]
M = TypeVar("M")
Rule = Callable[[Principal], ColumnElement[bool]]

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


def public_program(program: Any = None) -> ColumnElement[bool]:
    """What anyone may see of the catalog: an active program (of `program`, an alias of
    the programs table or the Program model by default)."""
    from service.catalog.enums import ProgramStatus
    from service.catalog.models import Program

    table = Program if program is None else program
    return table.status == ProgramStatus.active


@cache
def public_program_sql(alias: str = "programs") -> str:
    """public_program() as SQL text, for statements written as text (the directory's
    figures, the search sources): the same predicate, rendered from it."""
    from sqlalchemy.dialects import postgresql

    from service.catalog.models import Program

    table = Program.__table__.alias(alias) if alias != "programs" else Program.__table__
    compiled = public_program(table.c).compile(
        dialect=postgresql.dialect(),  # type: ignore[no-untyped-call]
        compile_kwargs={"literal_binds": True},
    )
    return str(compiled)


@dataclass(frozen=True)
class Counted:
    """Whose referrals a principal's figures count (metrics): every referral, or one
    school's, or one provider's."""

    school_id: uuid.UUID | None = None
    provider_id: uuid.UUID | None = None


def counted_referrals(principal: Principal) -> Counted:
    """The referrals coordination metrics count for `principal`: what readable(Referral)
    lets it read (its school's, its provider's, an admin's all), except that analysts,
    who read no single referral, count all of them: they see aggregates only, with
    small cells suppressed. Other callers get no metrics (403)."""
    if principal.role in (Role.analyst, Role.admin):
        return Counted()
    if principal.role is Role.school and principal.organization_id:
        return Counted(school_id=principal.organization_id)
    if principal.role is Role.provider and principal.organization_id:
        return Counted(provider_id=principal.organization_id)
    raise Forbidden(
        "Metrics are for analysts, admins, schools and providers.", code="role_forbidden"
    )


def _either_side(principal: Principal) -> ColumnElement[bool]:
    from service.referrals.models import Referral

    if principal.is_admin:
        return true()
    if principal.role is Role.school and principal.organization_id:
        return Referral.school_id == principal.organization_id
    if principal.role is Role.provider and principal.organization_id:
        return Referral.provider_id == principal.organization_id
    return false()


def _organization(principal: Principal) -> ColumnElement[bool]:
    from service.catalog.models import Organization, Program

    if not principal.is_anonymous:
        return true()
    return exists().where(Program.organization_id == Organization.id, public_program())


def _school_staff(column: OrgColumn, principal: Principal) -> ColumnElement[bool]:
    """Rows of the principal's school, except for its privacy officers, who read only
    the audit trail about them."""
    if principal.role is Role.privacy_officer:
        return false()
    return owned_by_visible_org(column, principal)


def audited_students(principal: Principal) -> ColumnElement[bool]:
    """The students (a condition on Student) whose audit trail the principal may read:
    admins every student's; a privacy officer their own school's."""
    from service.students.models import Student

    if principal.is_admin:
        return true()
    if principal.role is Role.privacy_officer and principal.organization_id:
        return Student.school_id == principal.organization_id
    return false()


def audit_of_school(school_id: uuid.UUID) -> ColumnElement[bool]:
    """Audit entries (a condition on AuditEntry) about the students of one school."""
    from service.audit.models import AuditEntry
    from service.students.models import Student

    students = select(Student.id).where(Student.school_id == school_id)
    return AuditEntry.student_id.in_(students.scalar_subquery())


def _audit(principal: Principal) -> ColumnElement[bool]:
    if principal.is_admin:
        return true()
    if principal.role is Role.privacy_officer and principal.organization_id:
        return audit_of_school(principal.organization_id)
    return false()


@cache
def _rules() -> dict[type, Rule]:
    from service.audit.models import AuditEntry
    from service.catalog.models import Location, Organization, Program
    from service.consent.models import Consent
    from service.referrals.models import Referral
    from service.students.models import Student
    from service.webhooks.models import WebhookEndpoint

    def location(principal: Principal) -> ColumnElement[bool]:
        return exists().where(Organization.id == Location.organization_id, _organization(principal))

    return {
        Program: lambda p: public_or_owned(public_program(), Program.organization_id, p),
        Organization: _organization,
        Location: location,
        Student: lambda p: _school_staff(Student.school_id, p),
        Consent: lambda p: _school_staff(Consent.school_id, p),
        Referral: _either_side,
        WebhookEndpoint: lambda p: owned_by_visible_org(WebhookEndpoint.organization_id, p),
        AuditEntry: _audit,
    }


def shape(principal: Principal) -> Principal:
    """What `readable` depends on (the role and the organization, not which key or
    person): the key statements compiled once per scope are kept by (service/reader.py)."""
    if principal.key_id is None and principal.subject is None and principal.display_name is None:
        return principal
    return Principal(role=principal.role, organization_id=principal.organization_id)


def readable(model: type, principal: Principal) -> ColumnElement[bool]:
    """The rows of `model` the principal may read, as a WHERE condition."""
    return _rules()[model](principal)


async def find_readable(
    session: AsyncSession,
    model: type[M],
    ident: uuid.UUID,
    principal: Principal,
    *,
    for_update: bool = False,
    refresh: bool = False,
    options: Sequence[Any] = (),
) -> M | None:
    """The row of `model` with id `ident` if the principal may read it, else None.
    `for_update` locks it (only its own table's row); `refresh` re-reads an object the
    session holds (what another transaction committed before the lock); `options` are
    loader options (relations a write needs)."""
    query = select(model).where(model.id == ident, readable(model, principal))  # type: ignore[attr-defined]
    if options:
        query = query.options(*options)
    if for_update:
        query = query.with_for_update(of=model)
    if refresh:
        query = query.execution_options(populate_existing=True)
    return await session.scalar(query)


async def get_readable(
    session: AsyncSession,
    model: type[M],
    ident: uuid.UUID,
    principal: Principal,
    *,
    what: str,
    for_update: bool = False,
    refresh: bool = False,
) -> M:
    """find_readable, or 404: a foreign row answers exactly like a missing one."""
    row = await find_readable(
        session, model, ident, principal, for_update=for_update, refresh=refresh
    )
    if row is None:
        raise NotFound(f"No {what} with id {ident} is visible to you.")
    return row
