"""PII never leaves by a side door.

A student with distinctive names goes through the whole loop (record, consent, referral,
transitions with notes, webhooks, a duplicate, bad input), then every output is searched
for those names: logs, error bodies, search results and documents, webhook payloads,
metrics in every format, the Prometheus scrape, and every table at rest. The owning
school reading the student is the positive control: there the names must appear.
"""

from __future__ import annotations

import logging
from io import StringIO

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service.ops.logs import FORMAT
from tests.conftest import Callers
from tests.factories import create_program
from tests.referrals.conftest import consent_body, post, student_body

FIRST, LAST = "Zephyrine", "Quillfeatherton"
GUARDIAN = "Ottoline Vantablack"
PHONE, EMAIL, BORN = "203-555-0199", "ottoline.v@example.org", "2013-07-29"
NEEDLES = (FIRST, LAST, GUARDIAN, "Vantablack", PHONE, EMAIL, BORN)


def leaks(output: str) -> list[str]:
    return [n for n in NEEDLES if n.casefold() in output.casefold()]


@pytest.fixture
def log_text() -> StringIO:
    from pythonjsonlogger.json import JsonFormatter

    from service.ops.context import RequestIdFilter

    out = StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter(FORMAT))
    handler.addFilter(RequestIdFilter())
    # The test's own HTTP client logs the URLs it asks for; it is not the service.
    handler.addFilter(lambda record: not record.name.startswith(("httpx", "httpcore")))
    root, engine = logging.getLogger(), logging.getLogger("sqlalchemy.engine")
    levels = root.level, engine.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    # Every statement and its parameters, as a DBA's log would keep them.
    engine.setLevel(logging.INFO)
    yield out
    root.removeHandler(handler)
    root.setLevel(levels[0])
    engine.setLevel(levels[1])


async def test_distinctive_names_appear_only_where_the_rules_allow(
    log_text: StringIO, client: httpx.AsyncClient, callers: Callers, session: AsyncSession
) -> None:
    school, provider = callers.school_a, callers.provider_a
    for caller in (school, provider):
        await post(
            client,
            caller,
            "/webhook-endpoints",
            {
                "url": "http://127.0.0.1:9/hook",
                "events": ["referral.created", "referral.status_changed", "consent.revoked"],
            },
        )
    program = await create_program(client, provider, name="Robotics Club")
    body = student_body(
        first_name=FIRST,
        last_name=LAST,
        date_of_birth=BORN,
        guardian_name=GUARDIAN,
        guardian_phone=PHONE,
        guardian_email=EMAIL,
    )
    student = await post(client, school, "/students", body, **{"Idempotency-Key": "leak-1"})
    sid = student["id"]
    await post(client, school, f"/students/{sid}/consents", consent_body(signer_name=GUARDIAN))
    referral = await post(
        client,
        school,
        "/referrals",
        {"student_id": sid, "program_id": program["id"], "need": "academic_support"},
    )
    path = f"/referrals/{referral['id']}"
    for caller, to in ((provider, "accepted"), (provider, "contacted")):
        current = await client.get(path, headers=caller.headers)
        moved = await client.post(
            f"{path}/transitions",
            json={"to": to},
            headers={**caller.headers, "If-Match": current.headers["ETag"]},
        )
        assert moved.status_code == 200, moved.text

    # Positive control: the school reads the names; the consented provider sees contact.
    own = await client.get(f"/students/{sid}", headers=school.headers)
    assert set(leaks(own.text)) >= {FIRST, LAST, PHONE, EMAIL, BORN}
    assert FIRST in (await client.get(path, headers=provider.headers)).text

    outputs: dict[str, str] = {}
    # Errors that carry the names in their requests.
    twin = await client.post(
        "/students", json={**body, "student_number": "S-2"}, headers=school.headers
    )
    assert twin.status_code == 409
    bad = await client.post(
        "/students",
        json={**body, "student_number": "S-3", "guardian_email": f"{FIRST}@"},
        headers=school.headers,
    )
    assert bad.status_code == 422
    too_long = await client.post(
        "/students", json={**body, "first_name": FIRST * 20}, headers=school.headers
    )
    assert too_long.status_code == 422
    lookup = {"first_name": FIRST, "last_name": LAST, "date_of_birth": BORN}
    foreign = await client.post(
        "/students/lookup",
        json={**lookup, "school_id": str(school.organization_id)},
        headers=callers.school_b.headers,
    )
    assert foreign.status_code == 404
    for name, response in (("409", twin), ("422", bad), ("422 long", too_long), ("404", foreign)):
        outputs[f"error {name}"] = response.text
    # Callers outside the rules.
    for name, caller in (("school B", callers.school_b), ("provider B", callers.provider_b)):
        outputs[f"{name} student"] = (
            await client.get(f"/students/{sid}", headers=caller.headers)
        ).text
        outputs[f"{name} referral"] = (await client.get(path, headers=caller.headers)).text
        outputs[f"{name} lookup"] = (
            await client.post("/students/lookup", json=lookup, headers=caller.headers)
        ).text
    # Search, HSDS, metrics and the Prometheus scrape.
    outputs["search"] = (await client.get("/search", params={"q": FIRST})).text
    outputs["hsds"] = (await client.get("/hsds/services")).text
    analyst = callers.analyst.headers
    for group in ("gender", "school", "grade_band", "home_language"):
        url = f"/metrics/referrals?group_by={group}"
        outputs[f"metrics {group}"] = (await client.get(url, headers=analyst)).text
        csv = await client.get(url, headers={**analyst, "Accept": "text/csv"})
        outputs[f"metrics {group} csv"] = csv.text
    outputs["metrics directory"] = (await client.get("/metrics/directory", headers=analyst)).text
    outputs["report"] = (await client.get("/metrics/report", headers=analyst)).text
    outputs["prometheus"] = (await client.get("/metrics")).text
    outputs["logs"] = log_text.getvalue()
    assert "INSERT INTO students" in outputs["logs"], "the log capture saw no statements"

    # Every table at rest, including webhook payloads, search documents and the audit log.
    tables = await session.scalars(
        text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
    )
    for table in tables:
        dump = await session.scalar(text(f'SELECT string_agg(t::text, chr(10)) FROM "{table}" t'))
        outputs[f"table {table}"] = dump or ""
    assert outputs["table webhook_messages"], "no webhook payload was written"

    found = {where: leaks(output) for where, output in outputs.items() if leaks(output)}
    assert found == {}, f"PII found in: {found}"
