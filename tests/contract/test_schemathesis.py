"""Schemathesis against the real app on a real database, over every operation.

The app runs under uvicorn (tests/contract/conftest.py), so what is tested is what a
client gets over HTTP. Each operation is exercised anonymously and with admin, provider
and school keys; every response must be non-5xx and match the documented schema.
test_stateful.py chains operations through the document's links.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from service.settings import REPO_ROOT
from tests.contract.conftest import LiveApi, ready_not_ready, scaled

schema = schemathesis.openapi.from_path(REPO_ROOT / "openapi" / "openapi.json")

ROLES = ("anonymous", "admin", "provider", "school")
MAX_EXAMPLES = scaled(30)


@pytest.mark.parametrize("role", ROLES)
@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: schemathesis.Case, role: str, live_api: LiveApi) -> None:
    # Business rules JSON Schema cannot say (min_age <= max_age, both coordinates or none)
    # make some schema-valid bodies a 422, so positive_data_acceptance does not apply.
    # With a key added by hand, schemathesis's own auth mutations are overridden, so the
    # negative-data and auth checks run for the anonymous caller only.
    excluded = [checks.positive_data_acceptance]
    if role != "anonymous":
        excluded += [checks.negative_data_rejection, checks.ignored_auth]
    headers = live_api.headers[role]
    response = case.call(base_url=live_api.base_url, headers=headers)
    if ready_not_ready(response, case):
        excluded.append(checks.not_a_server_error)
    case.validate_response(
        response,
        excluded_checks=excluded,
        headers=headers,
        transport_kwargs={"base_url": live_api.base_url, "headers": headers},
    )
