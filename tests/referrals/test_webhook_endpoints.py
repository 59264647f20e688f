"""Registering webhook endpoints: own organization only, https, the secret shown once."""

from __future__ import annotations

import httpx
import pytest

from service.settings import get_settings
from tests.conftest import Callers

URL = "https://partner.example.org/hooks"


async def test_an_endpoint_is_registered_and_its_secret_shown_once(
    client: httpx.AsyncClient, callers: Callers
) -> None:
    created = await client.post(
        "/webhook-endpoints",
        json={"url": URL, "events": ["referral.created"]},
        headers=callers.provider_a.headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert body["organization_id"] == str(callers.provider_a.organization_id)
    listed = await client.get("/webhook-endpoints", headers=callers.provider_a.headers)
    assert listed.json()["total_items"] == 1 and "secret" not in listed.json()["contents"][0]
    other = await client.get("/webhook-endpoints", headers=callers.provider_b.headers)
    assert other.json()["total_items"] == 0
    path = f"/webhook-endpoints/{body['id']}"
    assert (await client.delete(path, headers=callers.provider_b.headers)).status_code == 404
    assert (await client.delete(path, headers=callers.provider_a.headers)).status_code == 204


async def test_unknown_or_foreign_organizations_are_refused(
    client: httpx.AsyncClient, callers: Callers
) -> None:
    for caller, org in (
        (callers.admin, "00000000-0000-4000-8000-000000000000"),
        (callers.provider_a, str(callers.provider_b.organization_id)),
    ):
        response = await client.post(
            "/webhook-endpoints",
            json={"url": URL, "events": ["referral.created"], "organization_id": org},
            headers=caller.headers,
        )
        assert response.status_code == 404, response.text
    analyst = await client.post(
        "/webhook-endpoints",
        json={"url": URL, "events": ["referral.created"]},
        headers=callers.analyst.headers,
    )
    assert analyst.status_code == 403


async def test_http_urls_need_the_setting(
    client: httpx.AsyncClient, callers: Callers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "webhook_allow_http", False)
    response = await client.post(
        "/webhook-endpoints",
        json={"url": "http://partner.example.org/hooks", "events": ["referral.created"]},
        headers=callers.provider_a.headers,
    )
    assert response.status_code == 422 and response.json()["code"] == "insecure_url"
    bad = await client.post(
        "/webhook-endpoints",
        json={"url": URL, "events": ["spam"]},
        headers=callers.provider_a.headers,
    )
    assert bad.status_code == 422
