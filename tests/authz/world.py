"""The fixture world of the authorization matrix: organizations A and B with a resource of
every kind, built through the API, and the request that exercises each operation.

Everything path parameters point at belongs to organization A (provider A, school A);
B's twins exist so that lists have foreign rows to leak and PII has foreign owners.
Students carry distinctive personal data; `pii_allowed` says who may ever read which.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from service.catalog.models import Taxonomy, TaxonomyTerm
from service.geo.models import Area, AreaKind
from service.geometry import geojson_to_multipolygon, multipolygon_element
from service.local_time import today as local_today
from tests.conftest import Caller, Callers
from tests.factories import create_location, create_program, program_body


@dataclass(frozen=True)
class Person:
    """A student's personal data as the school records it."""

    number: str
    first: str
    last: str
    born: str
    guardian: str
    phone: str
    email: str

    def body(self, **extra: Any) -> dict[str, Any]:
        return {
            "student_number": self.number,
            "first_name": self.first,
            "last_name": self.last,
            "date_of_birth": self.born,
            "grade": "6",
            "guardian_name": self.guardian,
            "guardian_relationship": "parent",
            "guardian_phone": self.phone,
            "guardian_email": self.email,
            "preferred_language": "es",
            "gender": "female",
            **extra,
        }

    def contact(self) -> set[str]:
        """What the `contact` data element discloses to a provider."""
        return {self.first, self.last, self.born, self.guardian, self.phone, self.email}

    def everything(self) -> set[str]:
        return self.contact() | {self.number}


# Names no other fixture or seed uses, so any occurrence in a response is this student.
A1 = Person(
    "AZX-7701", "Marisolenne", "Quintavalleja", "2014-03-09",
    "Rosalinda Quintavalleja", "203-555-0142", "rosalinda.qv@example.org",
)  # fmt: skip
A2 = Person(
    "AZX-7702", "Thaddeusz", "Vandermoolenbrink", "2013-11-21",
    "Griselda Vandermoolenbrink", "203-555-0199", "griselda.vmb@example.org",
)  # fmt: skip
B1 = Person(
    "BZX-8801", "Philippazia", "Okonkwo-Ravensworth", "2012-07-04",
    "Obiageli Okonkwo-Ravensworth", "203-555-0177", "obiageli.or@example.org",
)  # fmt: skip
PEOPLE = (A1, A2, B1)
DRAFT_NAME = "Zephyrine Unlisted Workshop"  # provider A's inactive program
HOOK_URL_A = "http://127.0.0.1:9/hooks/provider-a-zq4"


def pii_allowed(caller: str) -> set[str]:
    """The student data `caller` may ever receive (PRODUCT.md: the owning school and admins
    read a student; a provider sees what a consent covers on a referral sent to it)."""
    return {
        "admin": set().union(*(p.everything() for p in PEOPLE)),
        "school_a": A1.everything() | A2.everything(),
        "school_b": B1.everything(),
        "provider_a": A1.contact(),  # A2's referral shares school_and_grade only
        "provider_b": B1.contact(),
    }.get(caller, set())


def private_allowed(caller: str) -> set[str]:
    """Other private strings: provider A's inactive program and webhook URL."""
    return {DRAFT_NAME, HOOK_URL_A} if caller in ("admin", "provider_a") else set()


def secrets() -> set[str]:
    return set().union(*(p.everything() for p in PEOPLE)) | {DRAFT_NAME, HOOK_URL_A}


def consent_body(elements: list[str]) -> dict[str, Any]:
    today = local_today()
    return {
        "signer": "guardian",
        "signer_name": "Guardian on file",
        "signature_method": "written",
        "evidence_ref": "scan://consents/authz.pdf",
        "signed_on": (today - timedelta(days=1)).isoformat(),
        "purpose": "Referral to out-of-school programs",
        "recipient_categories": ["out_of_school_time"],
        "data_elements": elements,
        "expires_on": (today + timedelta(days=365)).isoformat(),
    }


@dataclass
class World:
    callers: Callers
    ids: dict[str, str] = field(default_factory=dict)
    etags: dict[str, str] = field(default_factory=dict)

    def org(self, name: str) -> str:
        caller: Caller = getattr(self.callers, name)
        return str(caller.organization_id)


async def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), f"{response.request.url}: {response.text}"
    return dict(response.json())


async def _taxonomy(session: AsyncSession) -> tuple[str, str]:
    """A taxonomy and a term (no API writes them; the seed or an import does)."""
    taxonomy = Taxonomy(name="Authz taxonomy", description="For the authorization matrix")
    session.add(taxonomy)
    await session.flush()
    term = TaxonomyTerm(taxonomy_id=taxonomy.id, code="authz-chess", name="Chess", description="")
    session.add(term)
    await session.commit()
    return str(taxonomy.id), str(term.id)


async def _area(client: httpx.AsyncClient, session: AsyncSession) -> tuple[str, str]:
    listed = (await _ok(await client.get("/areas")))["contents"]
    if listed:
        return listed[0]["kind"], listed[0]["code"]
    square = {
        "type": "Polygon",
        "coordinates": [[[-73.5, 41.0], [-73.4, 41.0], [-73.4, 41.1], [-73.5, 41.0]]],
    }
    geom = multipolygon_element(geojson_to_multipolygon(square))
    session.add(Area(kind=AreaKind.zip, code="99990", name="Test", geom=geom, source="test"))
    await session.commit()
    return "zip", "99990"


async def build_world(client: httpx.AsyncClient, session: AsyncSession, callers: Callers) -> World:
    w = World(callers)
    w.ids["taxonomy"], w.ids["term"] = await _taxonomy(session)
    w.ids["area_kind"], w.ids["area_code"] = await _area(client, session)
    programs = await _catalog(client, w)
    await _hooks_and_keys(client, w)
    await _students(client, w, programs)
    await _check(client, session, w, programs)
    return w


async def _catalog(client: httpx.AsyncClient, w: World) -> dict[str, dict[str, Any]]:
    """Provider A: a location, two active programs and an inactive one; provider B: one."""
    pa, pb = w.callers.provider_a, w.callers.provider_b
    loc_a = await create_location(client, pa)
    loc_b = await create_location(client, pb)
    tagged = {"location_ids": [loc_a["id"]], "taxonomy_terms": ["authz-chess"]}
    programs = {
        "a": await create_program(client, pa, name="Math Lab", **tagged),
        "a_free": await create_program(client, pa, name="Robotics Club"),
        "draft": await create_program(client, pa, name=DRAFT_NAME, status="inactive", **tagged),
        "b": await create_program(client, pb, name="Teen Talk", location_ids=[loc_b["id"]]),
    }
    w.ids["location"] = loc_a["id"]
    w.ids["program_active"] = programs["a"]["id"]
    w.ids["program_free"] = programs["a_free"]["id"]
    w.ids["program"] = programs["draft"]["id"]
    spare = {"type": "provider", "name": "Spare"}  # nothing refers to it: admins can delete it
    made = await client.post("/organizations", json=spare, headers=w.callers.admin.headers)
    w.ids["spare_org"] = (await _ok(made))["id"]
    return programs


async def _hooks_and_keys(client: httpx.AsyncClient, w: World) -> None:
    """A webhook endpoint for each provider (before the referrals, so they get messages),
    and a second API key of provider A."""
    hooks = {"events": ["referral.created", "referral.status_changed", "consent.revoked"]}
    c = w.callers
    for caller, url in ((c.provider_a, HOOK_URL_A), (c.provider_b, "http://127.0.0.1:9/hooks/b")):
        body = {"url": url, **hooks}
        made = await _ok(await client.post("/webhook-endpoints", json=body, headers=caller.headers))
        w.ids.setdefault("endpoint", made["id"])
    body = {"name": "second key", "role": "provider", "organization_id": w.org("provider_a")}
    key = await _ok(await client.post("/api-keys", json=body, headers=c.admin.headers))
    w.ids["api_key"] = key["id"]


async def _students(client: httpx.AsyncClient, w: World, programs: dict[str, Any]) -> None:
    """A1 and A2 at school A, referred to provider A (A2 without contact data); B1 at
    school B, referred to provider B. Each with a consent covering what is shared."""
    full = ["contact", "school_and_grade", "referral_reason"]
    narrow = ["school_and_grade", "referral_reason"]
    sa, sb = w.callers.school_a, w.callers.school_b
    plan = ((A1, sa, full, "a"), (A2, sa, narrow, "a"), (B1, sb, full, "b"))
    for person, school, elements, program in plan:
        student = await _ok(
            await client.post("/students", json=person.body(), headers=school.headers)
        )
        consent = await _ok(
            await client.post(
                f"/students/{student['id']}/consents",
                json=consent_body(elements),
                headers=school.headers,
            )
        )
        body = {
            "student_id": student["id"],
            "program_id": programs[program]["id"],
            "need": "academic_support",
            "need_text": "Needs help with math.",
            "shared_elements": elements,
        }
        referral = await client.post("/referrals", json=body, headers=school.headers)
        made = await _ok(referral)
        w.ids.setdefault("student", student["id"])
        w.ids.setdefault("consent", consent["id"])
        w.ids.setdefault("referral", made["id"])
        w.etags.setdefault("referral", referral.headers["ETag"])


async def _check(
    client: httpx.AsyncClient, session: AsyncSession, w: World, programs: dict[str, Any]
) -> None:
    """Make sure the outputs the leak checks read are not empty (an empty answer leaks
    nothing and proves nothing). The app's embedded index reads the programs itself."""
    await session.commit()
    hits = await _ok(await client.get("/search/programs", params={"q": "Math Lab"}))
    assert hits["contents"], "the search index is empty"
    endpoint = f"/webhook-endpoints/{w.ids['endpoint']}/messages"
    messages = await _ok(await client.get(endpoint, headers=w.callers.provider_a.headers))
    assert messages["total_items"] >= 2, "no webhook payloads to check"
    links = await _ok(await client.get("/hsds/service_at_locations", params={"per_page": 100}))
    w.ids["service_at_location"] = next(
        s["id"] for s in links["contents"] if s["service"]["id"] == w.ids["program_active"]
    )


@asynccontextmanager
async def rolled_back(session: AsyncSession) -> AsyncIterator[None]:
    """Whatever happens inside is undone: a savepoint around the session's own, so every
    request of the matrix sees the same world."""
    connection = session.bind
    assert isinstance(connection, AsyncConnection)
    if session.in_transaction():
        await session.commit()
    savepoint = await connection.begin_nested()
    try:
        yield
    finally:
        if session.in_transaction():
            await session.rollback()
        await savepoint.rollback()
        session.expunge_all()


# ---------------------------------------------------------------- requests


@dataclass(frozen=True)
class Call:
    """How to exercise one operation as one caller."""

    path: str
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def path_params(w: World, method: str, template: str) -> dict[str, str]:
    """A resource of organization A for each parameter of `template`."""
    ids = w.ids
    organization = ids["spare_org"] if (method, template) == (
        "DELETE", "/organizations/{organization_id}"
    ) else w.org("provider_a")  # fmt: skip
    return {
        "organization_id": organization,
        "location_id": ids["location"],
        "program_id": ids["program"],
        "kind": ids["area_kind"],
        "code": ids["area_code"],
        "student_id": ids["student"],
        "consent_id": ids["consent"],
        "referral_id": ids["referral"],
        "endpoint_id": ids["endpoint"],
        "service_id": ids["program_active"],
        "service_at_location_id": ids["service_at_location"],
        "taxonomy_id": ids["taxonomy"],
        "taxonomy_term_id": ids["term"],
        "key_id": ids["api_key"],
    }


Body = Callable[[World, str], Any]
LOCATION = {"name": "Annex", "latitude": 41.1177, "longitude": -73.4082}

# A minimal valid body for each operation that takes one, given the world and the caller.
BODIES: dict[tuple[str, str], Body] = {
    ("POST", "/organizations"): lambda w, c: {"type": "provider", "name": "New org"},
    ("PATCH", "/organizations/{organization_id}"): lambda w, c: {"description": "Changed"},
    ("POST", "/organizations/{organization_id}/locations"): lambda w, c: LOCATION,
    ("PUT", "/locations/{location_id}"): lambda w, c: LOCATION,
    ("POST", "/programs"): lambda w, c: program_body(
        name="New program", organization_id=w.org("provider_a")
    ),
    ("PATCH", "/programs/{program_id}"): lambda w, c: {"description": "Changed"},
    ("POST", "/students"): lambda w, c: Person(
        "NEW-1", "Newfirst", "Newlast", "2015-01-02", "Newguardian", "203-555-0100", "n@example.org"
    ).body(school_id=w.org("school_a")),
    ("PATCH", "/students/{student_id}"): lambda w, c: {"grade": "7"},
    ("POST", "/students/lookup"): lambda w, c: {
        "school_id": w.org("school_a"),
        "first_name": A1.first,
        "last_name": A1.last,
        "date_of_birth": A1.born,
    },
    ("POST", "/students/{student_id}/consents"): lambda w, c: consent_body(["school_and_grade"]),
    ("POST", "/consents/{consent_id}/revoke"): lambda w, c: {"note": "Family asked"},
    ("POST", "/referrals"): lambda w, c: {
        "student_id": w.ids["student"],
        "program_id": w.ids["program_free"],
        "need": "academic_support",
    },
    ("POST", "/referrals/{referral_id}/transitions"): lambda w, c: (
        {"to": "cancelled", "reason": "no_longer_needed"}
        if c.startswith("school")
        else {"to": "accepted"}
    ),
    ("POST", "/referrals/{referral_id}/messages"): lambda w, c: {"text": "Tuesdays work best."},
    ("PATCH", "/webhook-endpoints/{endpoint_id}"): lambda w, c: {"active": False},
    ("POST", "/webhook-endpoints"): lambda w, c: {
        "url": "http://127.0.0.1:9/hooks/new",
        "events": ["referral.created"],
        "organization_id": w.org("provider_a"),
    },
    ("POST", "/hsds/import"): lambda w, c: [],
    ("POST", "/api-keys"): lambda w, c: {
        "name": "another",
        "role": "provider",
        "organization_id": w.org("provider_a"),
    },
}
HEADERS: dict[tuple[str, str], Callable[[World], dict[str, str]]] = {
    ("POST", "/referrals/{referral_id}/transitions"): lambda w: {"If-Match": w.etags["referral"]},
}


def call(w: World, method: str, template: str, caller: str) -> Call:
    path = template.format(**path_params(w, method, template))
    body = BODIES.get((method, template))
    headers = HEADERS.get((method, template), lambda w: {})(w)
    return Call(path, json=body(w, caller) if body else None, headers=headers)
