"""A client generated from openapi/openapi.json (openapi-python-client) reads our answers,
errors included: each problem+json body arrives parsed as the Problem model, not None."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from service.settings import REPO_ROOT
from tests.conftest import Callers

PACKAGE = "youthlink_generated_client"
# The generator handles JSON and octet-stream bodies; the import's ndjson and zip bodies
# are bytes to it.
CONFIG = """
package_name_override: youthlink_generated_client
content_type_overrides:
  application/x-ndjson: application/octet-stream
  application/zip: application/octet-stream
"""


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    where = tmp_path_factory.mktemp("client")
    (where / "config.yaml").write_text(CONFIG)
    command = shutil.which("openapi-python-client", path=str(Path(sys.executable).parent))
    assert command, "openapi-python-client is a dev dependency: pip install -e '.[dev]'"
    done = subprocess.run(
        [
            command,
            "generate",
            "--path",
            str(REPO_ROOT / "openapi" / "openapi.json"),
            "--output-path",
            str(where / PACKAGE),
            "--meta",
            "none",
            "--config",
            str(where / "config.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stdout, done.stdout  # every operation was generated
    sys.path.insert(0, str(where))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(where))
        for name in [m for m in sys.modules if m.startswith(PACKAGE)]:
            del sys.modules[name]


def _client(generated: ModuleType, http: httpx.AsyncClient, token: str | None = None) -> object:
    """A generated client that sends its requests to the test app (and its bearer token)."""
    base = str(http.base_url)
    if token is None:
        made = generated.Client(base_url=base)
        made.set_async_httpx_client(http)
    else:
        made = generated.AuthenticatedClient(base_url=base, token=token)
        headers = {"Authorization": f"Bearer {token}"}
        made.set_async_httpx_client(
            httpx.AsyncClient(transport=http._transport, base_url=base, headers=headers)
        )
    return made


async def test_errors_arrive_parsed_as_problems(
    generated: ModuleType, client: httpx.AsyncClient, callers: Callers
) -> None:
    programs_get = importlib.import_module(f"{PACKAGE}.api.programs.programs_get")
    organizations_create = importlib.import_module(
        f"{PACKAGE}.api.organizations.organizations_create"
    )
    models = importlib.import_module(f"{PACKAGE}.models")

    anonymous = _client(generated, client)
    missing = await programs_get.asyncio_detailed(program_id=uuid.uuid4(), client=anonymous)
    assert missing.status_code == 404
    assert isinstance(missing.parsed, models.Problem)
    assert missing.parsed.status == 404 and missing.parsed.code == "not_found"

    # A 422 with its field errors, each parsed too.
    headers = callers.admin.headers
    admin = _client(generated, client, token=headers["Authorization"].removeprefix("Bearer "))
    body = models.OrganizationCreate.from_dict({"type": "provider", "name": "x" * 301})
    refused = await organizations_create.asyncio_detailed(client=admin, body=body)
    assert refused.status_code == 422
    assert isinstance(refused.parsed, models.Problem)
    assert refused.parsed.code == "validation_error"
    assert refused.parsed.errors and refused.parsed.errors[0].loc == ["body", "name"]

    # And a success is the model it should be.
    made = await organizations_create.asyncio_detailed(
        client=admin, body=models.OrganizationCreate.from_dict({"type": "provider", "name": "X"})
    )
    assert made.status_code == 201 and made.parsed.name == "X"
