"""GET /metrics/referrals on a small catalog whose answers are worked out by hand."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from service.catalog.enums import Category
from service.catalog.models import Program
from service.consent.models import Consent
from service.consent.pii import seal_signer
from service.db import utcnow
from service.local_time import today as local_today
from service.metrics.periods import school_year_label, school_year_of
from service.referrals.enums import Need, Urgency
from service.referrals.models import Referral
from service.referrals.states import Status
from service.sealing.keyring import keyring
from service.settings import get_settings
from service.students.models import Student
from service.students.pii import StudentPII, seal_student
from tests.conftest import Callers

SENT = 100  # days ago


@dataclass
class Fixture:
    school: uuid.UUID
    names: list[str]
    student_ids: list[str]


async def build(session: AsyncSession, callers: Callers) -> Fixture:
    """School A refers 12 students (6 female, 6 male, grade 6) to provider A's program.

    female: 4 enrolled, 1 declined, 1 still 'sent' (response overdue)
    male:   2 enrolled, 2 declined, 2 accepted (contact overdue)
    """
    school, provider = callers.school_a.organization_id, callers.provider_a.organization_id
    assert school and provider
    program = Program(
        organization_id=provider,
        name="Math Lab",
        category=Category.out_of_school_time,
        cost_options=[],
        schedules=[],
        locations=[],
        taxonomy_terms=[],
    )
    session.add(program)
    await session.flush()
    sent = utcnow() - timedelta(days=SENT)
    outcomes = {
        "female": ["enrolled"] * 4 + ["declined", "sent"],
        "male": ["enrolled"] * 2 + ["declined"] * 2 + ["accepted"] * 2,
    }
    names, ids = [], []
    for gender, statuses in outcomes.items():
        for i, status in enumerate(statuses):
            name = f"Zq{gender}{i}x"
            student = Student(
                id=uuid.uuid4(),
                school_id=school,
                student_number=f"{gender}-{i}",
                grade=6,
                gender=gender,
                races=["white"],
                hispanic_latino=False,
            )
            seal_student(keyring(), student, StudentPII(name, "Metricsson", date(2014, 1, 1)))
            session.add(student)
            await session.flush()
            consent = Consent(
                id=uuid.uuid4(),
                student_id=student.id,
                school_id=school,
                signer="guardian",
                signature_method="written",
                evidence_ref="x",
                signed_on=local_today() - timedelta(days=200),
                purpose="p",
                recipient_organization_ids=[provider],
                recipient_categories=[],
                data_elements=["contact"],
                expires_on=local_today() + timedelta(days=200),
            )
            seal_signer(keyring(), consent, "G")
            session.add(consent)
            await session.flush()
            r = Referral(
                student_id=student.id,
                consent_id=consent.id,
                school_id=school,
                program_id=program.id,
                provider_id=provider,
                need=Need.other,
                urgency=Urgency.routine,
                shared_elements=["contact"],
                status=Status(status),
                sent_at=sent,
                response_due_at=sent + timedelta(days=3),
                contact_due_at=sent + timedelta(days=14),
            )
            if status != "sent":
                r.responded_at = sent + timedelta(days=2)
            if status == "declined":
                r.closed_at = sent + timedelta(days=2)
            if status == "enrolled":
                r.contacted_at = sent + timedelta(days=5)
                r.enrolled_at = sent + timedelta(days=10)
            session.add(r)
            names.append(name)
            ids.append(str(student.id))
    await session.commit()
    return Fixture(school=school, names=names, student_ids=ids)


def sent_year() -> str:
    """The school year the fixture's referrals were sent in (whatever today is)."""
    sent = local_today() - timedelta(days=SENT)
    return school_year_label(school_year_of(sent))


async def _get(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> Any:
    params.setdefault("school_year", sent_year())
    response = await client.get("/metrics/referrals", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def small_cells(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "min_cell", 3)


async def test_rates_gaps_and_times_by_gender(
    client: httpx.AsyncClient, session: AsyncSession, callers: Callers, small_cells: None
) -> None:
    await build(session, callers)
    body = await _get(client, callers.analyst.headers, group_by="gender")
    everyone = body["all_students"]
    assert (everyone["referrals"], everyone["students"]) == (12, 12)
    assert everyone["acceptance_rate"] == round(8 / 11, 4)  # 6 enrolled + 2 accepted, 3 declined
    assert everyone["enrollment_rate"] == 0.5
    assert everyone["completion_rate"] is None  # 0 of 6 enrolled completed: a small group,
    assert everyone["coded"]["completion_rate"] == "<=5%"  # so bottom-coded
    assert everyone["open_overdue"] == 3  # 1 unanswered, 2 accepted but never contacted
    assert everyone["median_days_to_enrollment"] == 10.0
    assert everyone["median_days_to_first_response"] == 2.0
    rows = {r["group"]["gender"]: r for r in body["rows"]}
    female, male = rows["female"], rows["male"]
    assert female["acceptance_rate"] == 0.8 and male["acceptance_rate"] == round(4 / 6, 4)
    assert female["enrollment_rate"] == round(4 / 6, 4) and male["enrollment_rate"] == round(
        2 / 6, 4
    )
    assert female["gaps_pp"]["enrollment_rate"] == 16.7
    assert male["gaps_pp"]["enrollment_rate"] == -16.7
    assert female["closed_within_30_days_rate"] == round(1 / 6, 4)
    assert male["closed_within_30_days_rate"] == round(2 / 6, 4)


async def test_small_groups_are_withheld(
    client: httpx.AsyncClient, session: AsyncSession, callers: Callers
) -> None:
    await build(session, callers)  # 6 + 6 students, fewer than the default 10 each
    body = await _get(client, callers.analyst.headers, group_by="gender")
    assert body["min_cell"] == 10
    assert body["all_students"]["referrals"] == 12
    for row in body["rows"]:
        assert row["suppressed"] and row["suppression"] == "small_cell"
        assert row["referrals"] is None and row["enrollment_rate"] is None


async def test_two_dimensions_come_with_their_totals(
    client: httpx.AsyncClient, session: AsyncSession, callers: Callers, small_cells: None
) -> None:
    await build(session, callers)
    body = await _get(client, callers.admin.headers, group_by=["gender", "school"])
    assert len(body["rows"]) == 2 and len(body["totals"]) == 3  # 2 genders + 1 school
    school_total = next(t for t in body["totals"] if "school" in t["group"])
    assert school_total["labels"]["school"] == "School A"
    assert school_total["referrals"] == 12


async def test_each_role_sees_its_own(
    client: httpx.AsyncClient, session: AsyncSession, callers: Callers, small_cells: None
) -> None:
    await build(session, callers)
    c = callers
    assert (await _get(client, c.school_a.headers))["all_students"]["referrals"] == 12
    assert (await _get(client, c.provider_a.headers))["all_students"]["referrals"] == 12
    assert (await _get(client, c.school_b.headers))["all_students"]["referrals"] == 0
    assert (await _get(client, c.provider_b.headers))["all_students"]["referrals"] == 0
    school_a = str(c.school_a.organization_id)
    spying = await _get(client, c.school_b.headers, school=school_a)
    assert spying["all_students"]["referrals"] == 0
    for caller, status in ((c.partner_app, 403), (c.anonymous, 401)):
        response = await client.get("/metrics/referrals", headers=caller.headers)
        assert response.status_code == status


async def test_csv_and_no_student_identity_anywhere(
    client: httpx.AsyncClient, session: AsyncSession, callers: Callers, small_cells: None
) -> None:
    fixture = await build(session, callers)
    response = await client.get(
        "/metrics/referrals",
        params={"group_by": ["gender", "grade_band"], "school_year": sent_year()},
        headers={**callers.analyst.headers, "Accept": "text/csv"},
    )
    assert response.headers["content-type"].startswith("text/csv")
    lines = response.text.strip().splitlines()
    assert lines[0].startswith("group.gender,group.grade_band,")
    assert len(lines) == 1 + 1 + 2 + 3  # header, all students, 2 cells, 2 + 1 totals
    json_body = (
        await client.get(
            "/metrics/referrals",
            params={"group_by": "gender", "school_year": sent_year()},
            headers=callers.analyst.headers,
        )
    ).text
    for text in (response.text, json_body):
        for secret in [*fixture.names, *fixture.student_ids, "Metricsson"]:
            assert secret not in text


async def test_bad_requests(client: httpx.AsyncClient, callers: Callers) -> None:
    for params in (
        {"group_by": ["gender", "school", "month"]},
        {"group_by": ["gender", "gender"]},
        {"group_by": "shoe_size"},
        {"from": "2026-05-01"},  # periods are school years only
        {"school_year": "2025-2026"},
        {"school_year": "2025-27"},
        {"school_year": "2999-00"},  # still to come
        {"years": 2},
        {"years": 3, "school_year": "2000-01"},  # the block published is the latest
        {"group_by": ["tract", "zip"]},
        # group_by and filters name three dimensions: a filter is a slice of a table
        {"group_by": ["gender", "grade_band"], "program_category": "out_of_school_time"},
    ):
        response = await client.get(
            "/metrics/referrals", params=params, headers=callers.analyst.headers
        )
        assert response.status_code == 422, (params, response.text)
