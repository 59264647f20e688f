"""The busiest reads are served by plain routes in front of FastAPI's (service/direct.py).
Each must answer exactly as the documented FastAPI operation it shadows: the same
requests go to the app as it runs and to the same app with the plain routes taken out,
and the answers are compared (status, body, the headers a client reads)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from service.app import create_app
from service.catalog.router import DIRECT as PROGRAMS_DIRECT
from service.referrals.router import DIRECT as REFERRALS_DIRECT
from service.search.router import DIRECT as SEARCH_DIRECT
from service.settings import Settings
from tests.conftest import Callers, app_client
from tests.factories import create_program
from tests.referrals.conftest import consent_body, post, student_body

PLAIN = [*SEARCH_DIRECT, *PROGRAMS_DIRECT, *REFERRALS_DIRECT]
COMPARED = ("content-type", "etag", "content-language", "allow", "www-authenticate", "vary")


@pytest.fixture
async def fastapi_only(
    session: AsyncSession, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    app.router.routes[:] = [r for r in app.router.routes if r not in PLAIN]
    async with app_client(app, session, settings) as client:
        yield client


def _answer(response: httpx.Response) -> tuple[int, Any, dict[str, str]]:
    kind = response.headers.get("content-type", "")
    body = response.json() if "json" in kind and response.content else response.text
    if isinstance(body, dict):
        body.pop("instance", None)  # problem documents name the request they answer
    return response.status_code, body, {h: response.headers.get(h, "") for h in COMPARED}


async def test_the_plain_routes_are_the_ones_that_serve(client: httpx.AsyncClient) -> None:
    app = client._transport.app  # type: ignore[attr-defined]
    assert app.router.routes[: len(PLAIN)] == PLAIN


async def test_each_answers_as_the_documented_operation(
    client: httpx.AsyncClient, fastapi_only: httpx.AsyncClient, callers: Callers
) -> None:
    active = await create_program(client, callers.provider_a, name="Robotics Lab")
    inactive = await create_program(
        client, callers.provider_a, name="Closed Camp", status="inactive"
    )
    own, other = callers.provider_a.headers, callers.provider_b.headers
    bad_key = {"Authorization": "Bearer yl_00000000_nope"}
    requests: list[tuple[str, str, dict[str, Any], dict[str, str]]] = [
        ("GET", f"/programs/{active['id']}", {}, {}),
        ("GET", f"/programs/{inactive['id']}", {}, {}),  # 404 to the public
        ("GET", f"/programs/{inactive['id']}", {}, own),  # the owner reads it
        ("GET", f"/programs/{inactive['id']}", {}, other),
        ("GET", f"/programs/{uuid.uuid4()}", {}, {}),
        ("GET", "/programs/not-a-uuid", {}, {}),
        ("GET", "/programs/not-a-uuid", {}, bad_key),  # the key is checked first
        ("GET", f"/programs/{active['id']}", {"expand": "all"}, {}),  # unknown parameter
        ("GET", f"/programs/{active['id']}", {}, bad_key),
        ("GET", f"/programs/{active['id']}", {}, {"Authorization": "Basic eDp5"}),
        ("HEAD", f"/programs/{active['id']}", {}, {}),
        ("DELETE", f"/programs/{uuid.uuid4()}", {}, own),  # other methods reach FastAPI's
        ("GET", "/search/programs", {"q": "robotics"}, {}),
        ("GET", "/search/programs", {"q": "robotics"}, own),
        ("GET", "/search/programs", {"q": "robotcs", "facets": "category"}, {}),
        ("GET", "/search/programs", {"catgory": "x"}, {}),
        ("GET", "/search/programs", {"q": "soc\x00cer"}, {}),
        ("GET", "/search/programs", {"age": "old"}, {}),
        ("GET", "/search/programs", {"zip": "99999"}, {}),
        ("GET", "/search/programs", {}, bad_key),
        ("GET", "/search/programs", {"age": "old"}, bad_key),
        ("GET", "/search/programs", {}, {"Accept": "a" * 501}),
        ("GET", "/search/programs", {}, {"Accept-Language": "e" * 201}),
        ("GET", "/search/programs", {"q": "robotics"}, {"Accept": "application/geo+json"}),
        ("GET", "/search/programs", {"q": "robotics"}, {"Accept-Language": "es"}),
        ("HEAD", "/search/programs", {}, {}),
        ("POST", "/search/programs", {}, {}),
    ]
    for method, path, params, headers in requests:
        served = await client.request(method, path, params=params, headers=headers)
        documented = await fastapi_only.request(method, path, params=params, headers=headers)
        assert _answer(served) == _answer(documented), (method, path, params, headers)


async def _referable(client: httpx.AsyncClient, callers: Callers) -> dict[str, Any]:
    """The body of a referral school A may send: provider A's program, a consented student."""
    school = callers.school_a
    program = await create_program(client, callers.provider_a, name="Math Lab")
    student = await post(client, school, "/students", student_body())
    await post(client, school, f"/students/{student['id']}/consents", consent_body())
    return {"student_id": student["id"], "program_id": program["id"], "need": "other"}


async def test_a_referral_read_answers_as_the_documented_operation(
    client: httpx.AsyncClient, fastapi_only: httpx.AsyncClient, callers: Callers
) -> None:
    school, provider = callers.school_a, callers.provider_a
    referral = await post(client, school, "/referrals", await _referable(client, callers))
    path = f"/referrals/{referral['id']}"
    # The provider's first read moves it to received (served here; tests/referrals cover
    # it): from then on, reads change nothing but the audit trail, and compare alike.
    first = await client.get(path, headers=provider.headers)
    assert first.status_code == 200 and first.json()["status"] == "received"
    bad_key = {"Authorization": "Bearer yl_00000000_nope"}
    requests: list[tuple[str, dict[str, Any], dict[str, str]]] = [
        (path, {}, school.headers),
        (path, {}, provider.headers),
        (path, {}, callers.admin.headers),
        (path, {}, callers.provider_b.headers),  # 404: not theirs
        (path, {}, callers.analyst.headers),  # 403: not a party's role
        (path, {}, {}),  # 401
        (path, {}, bad_key),
        (path, {"expand": "all"}, school.headers),  # unknown parameter
        (path.upper().replace("/REFERRALS/", "/referrals/"), {}, school.headers),
        (f"/referrals/{uuid.uuid4()}", {}, school.headers),
        ("/referrals/not-a-uuid", {}, school.headers),
        ("/referrals/inbox", {}, provider.headers),
        ("/referrals/outbox", {}, school.headers),
    ]
    for url, params, headers in requests:
        served = await client.get(url, params=params, headers=headers)
        documented = await fastapi_only.get(url, params=params, headers=headers)
        assert _answer(served) == _answer(documented), (url, params, headers)


async def test_their_latency_is_observed_under_their_templates(
    client: httpx.AsyncClient, callers: Callers
) -> None:
    program = await create_program(client, callers.provider_a)
    await client.get(f"/programs/{program['id']}")
    await client.get("/search/programs", params={"q": "soccer"})
    await client.get(f"/referrals/{uuid.uuid4()}", headers=callers.school_a.headers)
    body = (await client.get("/metrics")).text
    for template in ("/programs/{program_id}", "/search/programs"):
        assert (
            'youthlink_http_request_duration_seconds_count{method="GET",'
            f'route="{template}",status="200"}}' in body
        ), template
    assert (
        'youthlink_http_request_duration_seconds_count{method="GET",'
        'route="/referrals/{referral_id}",status="404"}' in body
    )


async def test_the_referral_writes_answer_as_the_documented_operations(
    client: httpx.AsyncClient, fastapi_only: httpx.AsyncClient, callers: Callers
) -> None:
    school, provider = callers.school_a, callers.provider_a
    new = await _referable(client, callers)
    # A create served, then replayed through the documented operation (the same key):
    # the same answer, byte for byte in what a client reads.
    keyed = {**school.headers, "Idempotency-Key": "create-1"}
    created = await client.post("/referrals", json=new, headers=keyed)
    assert created.status_code == 201, created.text
    assert _answer(await fastapi_only.post("/referrals", json=new, headers=keyed)) == _answer(
        created
    )
    referral = created.json()
    path = f"/referrals/{referral['id']}/transitions"
    current = {"If-Match": created.headers["ETag"]}
    moved_key = {**provider.headers, **current, "Idempotency-Key": "move-1"}
    accept = {"to": "accepted"}
    moved = await client.post(path, json=accept, headers=moved_key)
    assert moved.status_code == 200, moved.text
    assert _answer(await fastapi_only.post(path, json=accept, headers=moved_key)) == _answer(moved)
    now = {"If-Match": moved.headers["ETag"]}
    bad_key = {"Authorization": "Bearer yl_00000000_nope"}
    text = {"Content-Type": "text/plain"}
    jsonish = {"Content-Type": "application/json"}
    requests: list[tuple[str, str, Any, dict[str, str], dict[str, str]]] = [
        # method, path, body (dict: JSON; bytes: as is), headers, query
        ("POST", path, {"to": "contacted"}, provider.headers, {}),  # 428: no If-Match
        ("POST", path, {"to": "contacted"}, {**provider.headers, **current}, {}),  # 412
        ("POST", path, {"to": "contacted"}, {**provider.headers, "If-Match": "x" * 201}, {}),
        ("POST", path, {"to": "bogus"}, {**provider.headers, **now}, {}),
        ("POST", path, {"to": "bogus"}, {**provider.headers, "Idempotency-Key": "a b"}, {}),
        ("POST", path, {"to": "completed"}, {**provider.headers, **now}, {}),  # not allowed
        ("POST", path, {"to": "declined"}, {**provider.headers, **now}, {}),  # needs a reason
        ("POST", path, {"to": "contacted", "x": 1}, {**provider.headers, **now}, {}),
        ("POST", path, b'{"to": ', {**provider.headers, **now, **jsonish}, {}),
        ("POST", path, b'{"to": ', {**bad_key, **jsonish}, {}),  # the body is read first
        ("POST", path, b"\xff\xfe", {**provider.headers, **now, **jsonish}, {}),
        ("POST", path, b"", {**provider.headers, **now}, {}),
        ("POST", path, b'{"to": "contacted"}', {**provider.headers, **now, **text}, {}),
        ("POST", path, {"to": "contacted"}, {**callers.provider_b.headers, **now}, {}),
        ("POST", path, {"to": "contacted"}, {**callers.analyst.headers, **now}, {}),
        ("POST", path, {"to": "contacted"}, now, {}),
        ("POST", path, {"to": "contacted"}, {**bad_key, **now}, {}),
        ("POST", path, {"to": "contacted"}, {**provider.headers, **now}, {"force": "1"}),
        ("POST", f"/referrals/{uuid.uuid4()}/transitions", {"to": "contacted"}, school.headers, {}),
        ("POST", "/referrals/not-a-uuid/transitions", {"to": "contacted"}, school.headers, {}),
        ("GET", path, None, provider.headers, {}),
        ("POST", "/referrals", new, school.headers, {}),  # 409: it is open already
        ("POST", "/referrals", {**new, "need": "x"}, school.headers, {}),
        ("POST", "/referrals", {"need": "other"}, school.headers, {}),
        ("POST", "/referrals", new, provider.headers, {}),  # 403: schools refer
        ("POST", "/referrals", new, {}, {}),
        ("POST", "/referrals", new, {**school.headers, "Idempotency-Key": ""}, {}),
        ("POST", "/referrals", new, {**school.headers, "Idempotency-Key": "create-1"}, {}),
        ("POST", "/referrals", {**new, "urgency": "urgent"}, keyed, {}),  # key, other body
        ("POST", "/referrals", b"[1,", {**school.headers, **jsonish}, {}),
        ("POST", "/referrals", b"", school.headers, {}),
        ("GET", "/referrals", None, school.headers, {}),
    ]
    for method, url, body, headers, params in requests:
        sent: dict[str, Any] = {"headers": headers, "params": params}
        if isinstance(body, bytes):
            sent["content"] = body
        elif body is not None:
            sent["json"] = body
        served = await client.request(method, url, **sent)
        documented = await fastapi_only.request(method, url, **sent)
        assert _answer(served) == _answer(documented), (method, url, body, headers, params)
        assert served.status_code < 500, served.text
