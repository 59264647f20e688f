"""Webhook endpoints cannot aim inward, keep their secret sealed, and can be paused."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from service.settings import get_settings
from service.webhooks.delivery import Claimed, _send
from service.webhooks.destinations import destination_refusal, refusal
from service.webhooks.models import WebhookMessage
from tests.conftest import Callers
from tests.factories import create_program
from tests.referrals.conftest import World

EVENTS = ["referral.created", "referral.status_changed"]


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "::1",
        "fd00::1",
        "fe80::1%eth0",
        "::ffff:127.0.0.1",
        "224.0.0.1",
    ],
)
def test_inward_addresses_are_refused(address: str) -> None:
    assert refusal([address]) is not None
    assert refusal(["93.184.215.14", address]) is not None  # any inward address is enough


def test_public_addresses_pass_and_nothing_resolved_is_refused() -> None:
    assert refusal(["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]) is None
    assert refusal([]) == "its host does not resolve"


async def test_literal_addresses_are_checked_without_dns() -> None:
    assert await destination_refusal("https://127.0.0.1:8443/x", allow_private=False)
    assert await destination_refusal("https://[::1]/x", allow_private=False)
    assert await destination_refusal("https://127.0.0.1/x", allow_private=True) is None
    assert await destination_refusal("https://host.invalid/x", allow_private=False) == (
        "its host does not resolve"
    )


async def test_registering_an_inward_url_is_refused(
    client: httpx.AsyncClient, callers: Callers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "webhook_allow_private_networks", False)
    for url in ("https://169.254.169.254/latest/meta-data", "http://127.0.0.1:5432/"):
        response = await client.post(
            "/webhook-endpoints",
            json={"url": url, "events": EVENTS},
            headers=callers.provider_a.headers,
        )
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "forbidden_destination"
    listed = await client.get("/webhook-endpoints", headers=callers.provider_a.headers)
    assert listed.json()["total_items"] == 0


async def test_the_signing_secret_is_sealed_at_rest(
    client: httpx.AsyncClient, callers: Callers, session: AsyncSession
) -> None:
    created = await client.post(
        "/webhook-endpoints",
        json={"url": "http://127.0.0.1:9/hook", "events": EVENTS},
        headers=callers.provider_a.headers,
    )
    secret = created.json()["secret"]
    dump = await session.scalar(text("SELECT string_agg(w::text, ' ') FROM webhook_endpoints w"))
    assert dump is not None and secret not in dump and secret[6:] not in dump


async def _queued(session: AsyncSession, endpoint_id: str) -> int:
    count = await session.scalar(
        select(func.count()).where(WebhookMessage.endpoint_id == uuid.UUID(endpoint_id))
    )
    return int(count or 0)


async def test_an_endpoint_is_paused_and_resumed(world: World, session: AsyncSession) -> None:
    provider = world.callers.provider_a.headers
    endpoint = (
        await world.client.post(
            "/webhook-endpoints",
            json={"url": "http://127.0.0.1:9/hook", "events": EVENTS},
            headers=provider,
        )
    ).json()
    path = f"/webhook-endpoints/{endpoint['id']}"
    await world.referral()
    assert await _queued(session, endpoint["id"]) == 1

    paused = await world.client.patch(path, json={"active": False}, headers=provider)
    assert paused.status_code == 200 and paused.json()["active"] is False
    second = await create_program(world.client, world.callers.provider_a, name="Chess Club")
    await world.referral(program=second)
    assert await _queued(session, endpoint["id"]) == 1  # nothing queued while paused

    resumed = await world.client.patch(
        path, json={"active": True, "events": ["referral.created"]}, headers=provider
    )
    assert resumed.json() == {**paused.json(), "active": True, "events": ["referral.created"]}

    for body, code in (({"url": None}, "required"), ({"url": "ftp://x"}, None)):
        refused = await world.client.patch(path, json=body, headers=provider)
        assert refused.status_code == 422, refused.text
        if code:
            assert refused.json()["errors"][0]["type"] == code
    foreign = await world.client.patch(
        path, json={"active": False}, headers=world.callers.provider_b.headers
    )
    assert foreign.status_code == 404


async def test_a_delivery_to_a_name_now_resolving_inward_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(get_settings(), "webhook_allow_private_networks", False)
    claimed = Claimed(uuid.uuid4(), "http://localhost:9/hook", "whsec_" + "A" * 44, "{}")
    async with httpx.AsyncClient() as client:
        status, error, _ = await _send(client, claimed)
    assert status is None and error is not None and error.startswith("destination refused")


MALFORMED_URLS = [
    "https://[m",  # found by schemathesis: an unclosed IPv6 literal was a 500
    "https://[::1",
    "https://[not-an-address]/hook",
    "https://example.org:99999/hook",
    "https://example.org:port/hook",
    "https://exa%20mple.org/hook",
    "https://:443/hook",
]


@pytest.mark.parametrize("url", MALFORMED_URLS)
async def test_a_malformed_url_is_a_422_that_changes_nothing(
    client: httpx.AsyncClient, callers: Callers, url: str
) -> None:
    admin, provider = callers.admin.headers, callers.provider_a.headers
    created = await client.post(
        "/webhook-endpoints", json={"url": url, "events": EVENTS}, headers=admin
    )
    assert created.status_code == 422, created.text
    assert created.headers["content-type"] == "application/problem+json"
    assert created.json()["errors"][0]["loc"] == ["body", "url"]
    assert "not a valid URL" in created.json()["errors"][0]["msg"]
    listed = await client.get("/webhook-endpoints", headers=admin)
    assert listed.json()["total_items"] == 0

    endpoint = await client.post(
        "/webhook-endpoints",
        json={"url": "http://127.0.0.1:9/hook", "events": EVENTS},
        headers=provider,
    )
    path = f"/webhook-endpoints/{endpoint.json()['id']}"
    patched = await client.patch(path, json={"url": url}, headers=provider)
    assert patched.status_code == 422, patched.text
    listed = (await client.get("/webhook-endpoints", headers=provider)).json()["contents"]
    assert [e["url"] for e in listed] == ["http://127.0.0.1:9/hook"]
    # The same rule guards every URL the API stores: organization and program websites.
    org = await client.post(
        "/organizations", json={"type": "provider", "name": "X", "website": url}, headers=admin
    )
    assert org.status_code == 422, org.text


async def test_a_stored_malformed_url_is_refused_at_delivery_not_crashed_on() -> None:
    assert await destination_refusal("https://[m", allow_private=False) == (
        "its host does not resolve"
    )
