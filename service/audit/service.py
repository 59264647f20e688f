"""Recording the audit trail, in the same transaction as what it records, and reading it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Insert, String, cast, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit.models import AuditEntry
from service.auth import scope
from service.auth.principal import Principal
from service.pagination import PageParams, fetch_page
from service.reader import Reader, column_params, column_values, compile_statement, insert_row

_ACTOR_COLUMNS = (
    "actor_key_id",
    "actor_role",
    "actor_organization_id",
    "actor_subject",
    "actor_name",
)
_ENTRY_COLUMNS = (
    *_ACTOR_COLUMNS,
    "action",
    "subject_type",
    "subject_id",
    "student_id",
)


def entry(prefix: str = "v_", when: ColumnElement[bool] | None = None) -> Insert:
    """INSERT of one entry, its values given at run time as `entry_values(...)`. Run alone
    (`record`) or joined to the write it records (referrals/writes.py); with `when`, only
    if that holds."""
    return insert_row(AuditEntry.__table__, _ENTRY_COLUMNS, prefix, when)


# Compiled once and run on the session's connection (service/reader.py): flushed by the
# unit of work, an entry made a request's commit cost about 1.1 ms of Python; with it
# written this way the commit costs 0.2-0.3 ms (measured in process).
_ENTRY = compile_statement(entry())


def _actor(principal: Principal) -> dict[str, Any]:
    """Who did it: the key (key_id) or the person (subject and name), with their role and
    organization."""
    return {
        "actor_key_id": principal.key_id,
        "actor_role": principal.role.value if principal.role else None,
        "actor_organization_id": principal.organization_id,
        "actor_subject": principal.subject,
        "actor_name": principal.display_name,
    }


def entry_values(
    principal: Principal,
    action: str,
    subject_type: str,
    subject_id: uuid.UUID | str,
    student_id: uuid.UUID | None = None,
    prefix: str = "v_",
) -> dict[str, Any]:
    """The run-time values of `entry(prefix)`: `principal` did `action` to a subject."""
    values = {
        **_actor(principal),
        "action": action,
        "subject_type": subject_type,
        "subject_id": str(subject_id),
        "student_id": student_id,
    }
    return column_values(values, prefix)


async def record(
    session: AsyncSession,
    principal: Principal,
    action: str,
    subject_type: str,
    subject_id: uuid.UUID | str,
    student_id: uuid.UUID | None = None,
) -> None:
    """Note that `principal` did `action` (e.g. "student.read") to a subject. Written at
    once, in the session's transaction: it commits or rolls back with what it records."""
    values = entry_values(principal, action, subject_type, subject_id, student_id)
    await Reader(session=session).fetch(_ENTRY, **values)


def recorded_with(
    action: str,
    subject_type: str,
    subject_id: ColumnElement[Any],
    student_id: ColumnElement[Any],
) -> Insert:
    """An entry for each row a statement reads, written by that same statement (as a
    data-modifying WITH of it): `subject_id` and `student_id` are columns of what it read,
    the actor is given at run time as `actor_values(principal)`. A read and the record of
    it are then one round trip, and there is no record of a read that found nothing."""
    actor = column_params(AuditEntry.__table__, _ACTOR_COLUMNS, "a_").values()
    entries = select(
        *actor, literal(action), literal(subject_type), cast(subject_id, String), student_id
    )
    return insert(AuditEntry).from_select(list(_ENTRY_COLUMNS), entries)


def actor_values(principal: Principal) -> dict[str, Any]:
    """The run-time values of a `recorded_with` statement's actor."""
    return column_values(_actor(principal), "a_")


async def trail_of_student(
    session: AsyncSession, student_id: uuid.UUID, pages: PageParams
) -> tuple[Sequence[AuditEntry], int]:
    query = select(AuditEntry).where(AuditEntry.student_id == student_id)
    return await fetch_page(
        session, query, pages, AuditEntry.occurred_at.desc(), AuditEntry.id.desc()
    )


@dataclass(frozen=True)
class AccessFilter:
    """Which entries of the access log: about one student, by one actor, of one school."""

    student_id: uuid.UUID | None = None
    actor_subject: str | None = None
    actor_key_id: uuid.UUID | None = None
    school_id: uuid.UUID | None = None


async def access_log(
    session: AsyncSession, principal: Principal, wanted: AccessFilter, pages: PageParams
) -> tuple[Sequence[AuditEntry], int]:
    """The entries about students the principal may see the trail of (scope: a privacy
    officer's school, or all for admins), newest first."""
    query = select(AuditEntry).where(
        AuditEntry.student_id.is_not(None), scope.readable(AuditEntry, principal)
    )
    if wanted.student_id is not None:
        query = query.where(AuditEntry.student_id == wanted.student_id)
    if wanted.actor_subject is not None:
        query = query.where(AuditEntry.actor_subject == wanted.actor_subject)
    if wanted.actor_key_id is not None:
        query = query.where(AuditEntry.actor_key_id == wanted.actor_key_id)
    if wanted.school_id is not None:
        query = query.where(scope.audit_of_school(wanted.school_id))
    return await fetch_page(
        session, query, pages, AuditEntry.occurred_at.desc(), AuditEntry.id.desc()
    )
