"""The committed OpenAPI document is the app's document."""

from __future__ import annotations

import json

from service.app import create_app
from service.settings import REPO_ROOT

COMMITTED = REPO_ROOT / "openapi" / "openapi.json"


def test_committed_openapi_matches_the_app() -> None:
    committed = json.loads(COMMITTED.read_text())
    live = create_app().openapi()
    assert live == committed, "openapi/openapi.json is stale: run `python -m service openapi`"


def test_every_operation_has_a_stable_id_and_a_tag() -> None:
    document = create_app().openapi()
    ids = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert operation.get("operationId"), f"{method} {path} has no operationId"
            assert operation.get("tags"), f"{method} {path} has no tag"
            ids.append(operation["operationId"])
    assert len(ids) == len(set(ids))
