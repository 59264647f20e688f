"""A school, two providers, a student with a consent, and helpers to refer and move."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.local_time import today as local_today
from service.webhooks.models import WebhookEndpoint, WebhookMessage
from tests.conftest import Caller, Callers
from tests.factories import create_program


def student_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "student_number": "S-1001",
        "first_name": "Marisol",
        "last_name": "Quintanilla",
        "date_of_birth": "2014-03-09",
        "grade": "6",
        "guardian_name": "Rosa Quintanilla",
        "guardian_relationship": "parent",
        "guardian_phone": "203-555-0142",
        "guardian_email": "rosa.q@example.org",
        "preferred_language": "es",
        "races": ["white"],
        "hispanic_latino": True,
        "gender": "female",
        "home_language": "spa",
        "english_learner": True,
        "iep": False,
        "section_504": False,
    }
    body.update(overrides)
    return body


def consent_body(**overrides: Any) -> dict[str, Any]:
    today = local_today()
    body: dict[str, Any] = {
        "signer": "guardian",
        "signer_name": "Rosa Quintanilla",
        "signature_method": "written",
        "evidence_ref": "scan://consents/2026/0142.pdf",
        "signed_on": (today - timedelta(days=1)).isoformat(),
        "purpose": "Referral to after-school and counseling programs",
        "recipient_organization_ids": [],
        "recipient_categories": ["out_of_school_time"],
        "data_elements": ["contact", "school_and_grade", "referral_reason"],
        "expires_on": (today + timedelta(days=365)).isoformat(),
    }
    body.update(overrides)
    return body


async def post(client: httpx.AsyncClient, caller: Caller, path: str, body: Any, **kw: Any) -> Any:
    response = await client.post(path, json=body, headers={**caller.headers, **kw})
    assert response.status_code in (200, 201), response.text
    return response.json()


@dataclass
class World:
    client: httpx.AsyncClient
    callers: Callers
    program: dict[str, Any]  # provider A, out_of_school_time
    other_program: dict[str, Any]  # provider B, social_emotional_health
    student: dict[str, Any]  # school A
    consent: dict[str, Any]  # out_of_school_time class: contact, school_and_grade, reason

    async def refer(self, program: dict[str, Any] | None = None, **body: Any) -> httpx.Response:
        return await self.client.post(
            "/referrals",
            json={
                "student_id": self.student["id"],
                "program_id": (program or self.program)["id"],
                "need": "academic_support",
                "need_text": "Falling behind in math since moving schools.",
                **body,
            },
            headers=self.callers.school_a.headers,
        )

    async def referral(self, **body: Any) -> dict[str, Any]:
        response = await self.refer(**body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def move(
        self, caller: Caller, referral: dict[str, Any], to: str, **body: Any
    ) -> httpx.Response:
        current = await self.client.get(f"/referrals/{referral['id']}", headers=caller.headers)
        assert current.status_code == 200, current.text
        return await self.client.post(
            f"/referrals/{referral['id']}/transitions",
            json={"to": to, **body},
            headers={**caller.headers, "If-Match": current.headers["ETag"]},
        )


@pytest.fixture
async def world(client: httpx.AsyncClient, callers: Callers) -> World:
    program = await create_program(client, callers.provider_a, name="Math Lab")
    other = await create_program(
        client, callers.provider_b, name="Teen Talk", category="social_emotional_health"
    )
    student = await post(client, callers.school_a, "/students", student_body())
    consent = await post(
        client, callers.school_a, f"/students/{student['id']}/consents", consent_body()
    )
    return World(client, callers, program, other, student, consent)


EVERYTHING = [
    "referral.created",
    "referral.status_changed",
    "consent.revoked",
    "consent.expired",
]


async def subscribe_both(world: World) -> None:
    """School A and provider A each subscribe an endpoint to every referral event."""
    for caller in (world.callers.school_a, world.callers.provider_a):
        await post(
            world.client,
            caller,
            "/webhook-endpoints",
            {"url": "http://127.0.0.1:9/hook", "events": EVERYTHING},
        )


async def sent_messages(session: AsyncSession, event: str) -> dict[str, dict[str, Any]]:
    """The `event` messages by the organization of the endpoint they go to."""
    rows = await session.execute(
        select(WebhookEndpoint.organization_id, WebhookMessage.payload)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookMessage.endpoint_id)
        .where(WebhookMessage.event_type == event)
    )
    return {str(org): payload["data"] for org, payload in rows}


# The committing world's fixtures, for every module here (defined beside its helpers).
from tests.referrals.live import live, live_database  # noqa: E402, F401
