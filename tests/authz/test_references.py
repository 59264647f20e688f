"""A resource the caller may not see answers exactly like one that does not exist.

The matrix checks that foreign resources in paths answer 404; here each reference to one of
organization A's private resources, in a path or in a body, is sent twice: once with the
real id, once with a random one. Status, problem code and detail (ids aside) must be equal,
so no answer tells the caller that the resource exists.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.authz.world import BODIES, World, build_world, rolled_back
from tests.conftest import Callers


@dataclass(frozen=True)
class Probe:
    """`caller` sends `method` to what `request(world, target)` builds, where `target`
    stands for the world's resource `resource` (or a random id)."""

    caller: str
    method: str
    resource: str
    request: Callable[[World, str], tuple[str, Any]]

    def label(self, w: World) -> str:
        path, _ = self.request(w, "<" + self.resource + ">")
        return f"{self.method} {path} as {self.caller}, naming {self.resource}"


TARGET = object()  # where the probed id goes in a body


def in_body(path: str, **changes: Any) -> Callable[[World, str], tuple[str, Any]]:
    """POST `path` with its matrix body, the fields in `changes` set (TARGET: the id)."""

    def request(w: World, target: str) -> tuple[str, Any]:
        made = BODIES[("POST", path)](w, "")
        return path, {**made, **{k: (target if v is TARGET else v) for k, v in changes.items()}}

    return request


def in_path(template: str, method: str = "GET") -> Callable[[World, str], tuple[str, Any]]:
    """`method` on `template` with the id as its (one) parameter, and its matrix body."""
    param = re.findall(r"{(\w+)}", template)[0]

    def request(w: World, target: str) -> tuple[str, Any]:
        made = BODIES.get((method, template))
        path = template.replace("{" + param + "}", target)
        return path, made(w, "") if made else None

    return request


PROBES = [
    # references in bodies
    Probe("school_b", "POST", "student", in_body("/referrals", student_id=TARGET)),
    Probe("school_a", "POST", "program", in_body("/referrals", program_id=TARGET)),
    Probe("provider_b", "POST", "org_a", in_body("/programs", organization_id=TARGET)),
    Probe("school_b", "POST", "school_a", in_body("/students", school_id=TARGET)),
    Probe(
        "provider_b",
        "POST",
        "org_a",
        in_body("/webhook-endpoints", organization_id=TARGET),
    ),
    # references in paths
    Probe("provider_b", "GET", "program", in_path("/programs/{program_id}")),
    Probe("anonymous", "GET", "program", in_path("/programs/{program_id}")),
    Probe("school_a", "GET", "program", in_path("/programs/{program_id}/occurrences")),
    Probe("provider_b", "PATCH", "program", in_path("/programs/{program_id}", "PATCH")),
    Probe("provider_b", "PUT", "location", in_path("/locations/{location_id}", "PUT")),
    Probe("school_b", "GET", "student", in_path("/students/{student_id}")),
    Probe("school_b", "POST", "student", in_path("/students/{student_id}/consents", "POST")),
    Probe("school_b", "GET", "consent", in_path("/consents/{consent_id}")),
    Probe("provider_b", "GET", "referral", in_path("/referrals/{referral_id}")),
    Probe(
        "school_b",
        "POST",
        "referral",
        in_path("/referrals/{referral_id}/transitions", "POST"),
    ),
    Probe(
        "provider_b", "DELETE", "endpoint", in_path("/webhook-endpoints/{endpoint_id}", "DELETE")
    ),
]


def target_of(w: World, resource: str) -> str:
    if resource == "org_a":
        return w.org("provider_a")
    if resource == "school_a":
        return w.org("school_a")
    return w.ids[resource]


def _shape(response: httpx.Response, ident: str) -> tuple[int, str | None, str | None]:
    problem = response.json() if response.content else {}
    detail = problem.get("detail") if isinstance(problem, dict) else None
    code = problem.get("code") if isinstance(problem, dict) else None
    return response.status_code, code, detail.replace(ident, "<id>") if detail else None


async def test_foreign_resources_look_absent(
    client: httpx.AsyncClient, session: AsyncSession, callers: Callers
) -> None:
    world = await build_world(client, session, callers)
    differ = []
    for probe in PROBES:
        headers = {**getattr(callers, probe.caller).headers, "If-Match": world.etags["referral"]}
        shapes = []
        for ident in (target_of(world, probe.resource), str(uuid.uuid4())):
            path, json = probe.request(world, ident)
            async with rolled_back(session):
                response = await client.request(probe.method, path, json=json, headers=headers)
            shapes.append(_shape(response, ident))
        real, missing = shapes
        if real != missing or real[0] < 400:
            differ.append(
                f"{probe.label(world)}: a real foreign id answers {real}, a random one {missing}"
            )
    assert not differ, "\n".join(differ)
