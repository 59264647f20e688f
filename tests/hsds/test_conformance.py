"""The /hsds API against the HSDS 3.0 schemas, walked the way the Open Referral UK
validator walks a feed: the root; the first, a middle and the last page of every list;
up to ten ids of each list fetched one by one. Every body is validated with jsonschema:
list items against the *_list shapes, details against the full shapes, the envelope
against the HSDS OpenAPI's Page."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from service.catalog.seed import load_seed_file
from service.settings import Settings
from tests.hsds.conftest import Schemas, errors_of

# list path -> (item schema, detail schema)
LISTS = {
    "/hsds/services": ("compiled/service_list.json", "service.json"),
    "/hsds/organizations": ("compiled/organization_list.json", "organization.json"),
    "/hsds/service_at_locations": (
        "compiled/service_at_location_list.json",
        "service_at_location.json",
    ),
    "/hsds/taxonomies": ("taxonomy.json", "taxonomy.json"),
    "/hsds/taxonomy_terms": ("taxonomy_term.json", "taxonomy_term.json"),
}
PER_PAGE = 7


async def _get(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    response = await client.get(path, params=params)
    assert response.status_code == 200, (path, params, response.text)
    assert response.headers["access-control-allow-origin"] == "*"
    return response.json()


async def test_every_endpoint_conforms(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, hsds: Schemas
) -> None:
    await load_seed_file(session, settings.seeds_dir / "norwalk.json")
    root = await _get(client, "/hsds/")
    assert root["version"] == "3.0" and root["openapi_url"].startswith("http")
    page_schema = hsds.page()
    problems: list[str] = []
    for path, (item_name, detail_name) in LISTS.items():
        items, details = hsds.validator(item_name), hsds.validator(detail_name)
        first = await _get(client, path, per_page=PER_PAGE)
        assert first["total_items"] > 0, path
        last = first["total_pages"]
        seen: list[str] = []
        for number in sorted({1, max(1, last // 2), last}):
            page = await _get(client, path, per_page=PER_PAGE, page=number)
            problems += [f"{path} page {number}: {e}" for e in errors_of(page_schema, page)]
            assert page["page_number"] == number and page["size"] == len(page["contents"])
            assert page["last_page"] == (number == last)
            for item in page["contents"]:
                problems += [f"{path} item {item.get('id')}: {e}" for e in errors_of(items, item)]
                seen.append(item["id"])
        for ident in seen[:10]:
            detail = await _get(client, f"{path}/{ident}")
            problems += [f"{path}/{ident}: {e}" for e in errors_of(details, detail)]
        if path in ("/hsds/services", "/hsds/service_at_locations", "/hsds/organizations"):
            full = await _get(client, path, per_page=3, full="true")
            for item in full["contents"]:
                problems += [f"{path}?full {item['id']}: {e}" for e in errors_of(details, item)]
    assert not problems, "\n".join(problems[:30])


async def test_the_schema_checks_can_fail(hsds: Schemas) -> None:
    """A body that breaks the schema is reported (the conformance test is not vacuous)."""
    bad = {"id": "not-a-uuid", "name": "x", "status": "open", "minimum_age": "three"}
    errors = errors_of(hsds.validator("compiled/service_list.json"), bad)
    assert len(errors) >= 3
    # The links the compiled bundle adds are checked too: a nested service is validated.
    organization = {"id": str(uuid.uuid4()), "name": "o", "description": "d", "services": [bad]}
    assert len(errors_of(hsds.validator("organization.json"), organization)) >= 3
    at_location = {"id": str(uuid.uuid4()), "service": bad}
    assert len(errors_of(hsds.validator("service_at_location.json"), at_location)) >= 3
    assert errors_of(hsds.page(), {"total_items": 1}) != []
