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


def test_errors_are_declared_as_the_problem_documents_the_server_sends() -> None:
    document = create_app().openapi()
    assert document["servers"] and "Problem" in document["components"]["schemas"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert {"400", "422", "500"} <= set(responses), (method, path)
            for status, response in responses.items():
                if int(status) < 400 or (path, status) == ("/ready", "503"):
                    continue
                assert response["content"] == {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                }, (method, path, status)


def test_rate_limits_are_declared_where_the_guard_applies_them() -> None:
    from service.ops.guard import RATE_HEADERS, budget

    document = create_app().openapi()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            if budget(method.upper(), path) is None:
                assert "429" not in responses, (method, path)
                continue
            assert "Retry-After" in responses["429"]["headers"], (method, path)
            for status, response in responses.items():
                if int(status) < 500:
                    assert set(RATE_HEADERS) <= set(response.get("headers", {})), (path, status)
    assert "429" in document["paths"]["/hsds/"]["get"]["responses"]


def test_request_defaults_are_in_the_document() -> None:
    """A client that omits a field gets the default the document shows."""
    from service.referrals.schemas import DEFAULT_SHARED

    schemas = create_app().openapi()["components"]["schemas"]
    shared = schemas["ReferralCreate"]["properties"]["shared_elements"]
    assert shared["default"] == [e.value for e in DEFAULT_SHARED]
