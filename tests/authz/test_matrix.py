"""Every operation of openapi/openapi.json, as every caller: the status class the matrix
expects, and no student's personal data (or other private string) in any response the
rules do not entitle the caller to. Each request runs in a savepoint rolled back after
it, so all of them see the same world."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.authz.matrix import CALLERS, MATRIX, Outcome
from tests.authz.world import (
    BODIES,
    World,
    build_world,
    call,
    path_params,
    pii_allowed,
    private_allowed,
    rolled_back,
    secrets,
)
from tests.conftest import Callers

OPENAPI = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def operations() -> dict[tuple[str, str], dict[str, Any]]:
    document = json.loads(OPENAPI.read_text())
    return {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def test_matrix_has_exactly_the_operations_of_the_openapi_document() -> None:
    documented = set(operations())
    missing = sorted(documented - MATRIX.keys())
    stale = sorted(MATRIX.keys() - documented)
    assert not missing, f"operations with no authorization entry: {missing}"
    assert not stale, f"entries for operations the API no longer has: {stale}"
    for key, table in MATRIX.items():
        assert set(table) == set(CALLERS), f"{key}: callers {sorted(table)}"


def test_every_operation_with_a_body_has_one() -> None:
    with_body = {key for key, op in operations().items() if "requestBody" in op}
    assert set(BODIES) == with_body


def test_every_path_parameter_has_a_resource() -> None:
    names = {n for _, path in operations() for n in re.findall(r"{(\w+)}", path)}

    class Anything(dict[str, str]):
        def __missing__(self, key: str) -> str:
            return key

    class Stub:
        ids = Anything()

        def org(self, name: str) -> str:
            return name

    filled = path_params(Stub(), "GET", "/")  # type: ignore[arg-type]
    assert names <= filled.keys(), sorted(names - filled.keys())


def test_expected_refusals_are_documented() -> None:
    """A status the matrix expects must be among the operation's documented responses, and
    the security requirement must say whether anonymous callers get in."""
    for (method, path), op in operations().items():
        table = MATRIX[(method, path)]
        documented = set(op["responses"])
        for caller, outcome in table.items():
            if outcome is not Outcome.OK:
                assert outcome.value in documented, f"{method} {path} as {caller}: {outcome}"
        security = op.get("security", [{}])
        optional = {} in security
        assert optional == (table["anonymous"] is not Outcome.UNAUTHENTICATED), (
            f"{method} {path}: security {security} vs anonymous {table['anonymous']}"
        )


async def _as(
    client: httpx.AsyncClient, session: AsyncSession, world: World, caller: str
) -> list[str]:
    """Every operation as `caller`: what differs from the matrix, and what leaks."""
    headers = getattr(world.callers, caller).headers
    allowed = pii_allowed(caller) | private_allowed(caller)
    forbidden = {s.lower() for s in secrets() - allowed}
    seen: set[str] = set()
    failures = []
    for (method, template), table in MATRIX.items():
        expected = table[caller]
        name = f"{method} {template} as {caller}"
        request = call(world, method, template, caller)
        async with rolled_back(session):
            response = await client.request(
                method, request.path, json=request.json, headers={**headers, **request.headers}
            )
        if not expected.matches(response.status_code):
            failures.append(
                f"{name}: expected {expected.value}, got {response.status_code} "
                f"{response.text[:300]}"
            )
        text = (str(response.headers) + response.text).lower()
        leaked = sorted(s for s in forbidden if s in text)
        if leaked:
            failures.append(f"{name}: the response carries {leaked}")
        seen |= {s for s in allowed if s.lower() in text}
    # The PII check must not pass because nothing is ever shown: each entitled caller does
    # receive every string it may see, somewhere.
    unseen = sorted(pii_allowed(caller) - seen)
    if unseen:
        failures.append(f"{caller} never received the data it is entitled to: {unseen}")
    return failures


async def test_authorization_matrix(
    client: httpx.AsyncClient, session: AsyncSession, callers: Callers
) -> None:
    """One world, every caller in turn (a world per caller would double the run time)."""
    world = await build_world(client, session, callers)
    failures = [f for caller in CALLERS for f in await _as(client, session, world, caller)]
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures)
