"""Recording the audit trail, in the same transaction as what it records."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit.models import AuditEntry
from service.auth.principal import Principal
from service.pagination import PageParams, fetch_page


def record(
    session: AsyncSession,
    principal: Principal,
    action: str,
    subject_type: str,
    subject_id: uuid.UUID | str,
    student_id: uuid.UUID | None = None,
) -> None:
    """Note that `principal` did `action` (e.g. "student.read") to a subject."""
    session.add(
        AuditEntry(
            actor_key_id=principal.key_id,
            actor_role=principal.role.value if principal.role else None,
            actor_organization_id=principal.organization_id,
            actor_subject=principal.subject,
            actor_name=principal.display_name,
            action=action,
            subject_type=subject_type,
            subject_id=str(subject_id),
            student_id=student_id,
        )
    )


async def trail_of_student(
    session: AsyncSession, student_id: uuid.UUID, pages: PageParams
) -> tuple[Sequence[AuditEntry], int]:
    query = select(AuditEntry).where(AuditEntry.student_id == student_id)
    return await fetch_page(
        session, query, pages, AuditEntry.occurred_at.desc(), AuditEntry.id.desc()
    )
