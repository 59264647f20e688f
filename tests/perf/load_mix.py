"""The load test's world (schools, providers, students, consents) and its weighted request mix.

The mix is sent with aiohttp (its C parser costs about a quarter of httpx's CPU per
request: on a 2-core machine the client shares the cores with the server it measures);
the world is set up with httpx, as the tests do.

Every 2xx answer that wrote something, and every referral state a 2xx answer showed, is
recorded here (`Acked`), so that test_bench_load.py can check them against the database.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
import asyncpg
import httpx
import orjson
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from service.auth.roles import Role
from service.catalog.enums import Category, OrganizationType
from service.keys.service import create_key
from service.referrals.states import TERMINAL
from tests.conftest import make_org
from tests.perf.test_bench_search import shapes
from tests.referrals.conftest import consent_body, student_body

WEIGHTS = {"search": 30, "program": 20, "referral_read": 20, "create": 12, "transition": 18}
WRITES = {"create": 12, "transition": 18}  # BENCH_LOAD_MIX=writes: the referral writes alone
HOT = 32  # transitions pick among the newest open referrals half the time: races
CLOSED = {s.value for s in TERMINAL}
# Where a provider takes a referral from its status, with weights.
PROVIDER_MOVES: dict[str, list[tuple[str, str | None, int]]] = {
    "sent": [("accepted", None, 8), ("declined", "no_capacity", 2)],
    "received": [("accepted", None, 8), ("declined", "not_a_fit", 2)],
    "accepted": [("contacted", None, 6), ("enrolled", None, 2), ("not_completed", "moved_away", 2)],
    "contacted": [("enrolled", None, 7), ("not_completed", "could_not_contact", 3)],
    "enrolled": [("completed", None, 8), ("not_completed", "stopped_attending", 2)],
}


@dataclass
class World:
    schools: list[tuple[str, dict[str, str]]]  # organization id, headers
    providers: dict[str, dict[str, str]]  # organization id -> headers
    students: dict[str, list[str]] = field(default_factory=dict)  # school id -> student ids
    referable: list[str] = field(default_factory=list)  # programs of the keyed providers
    programs: list[str] = field(default_factory=list)  # active programs, for detail reads


def _dsn(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def make_world(url: str, n_schools: int, n_providers: int) -> World:
    """Schools with keys; the synthetic organizations with the most referable programs get
    provider keys."""
    conn = await asyncpg.connect(_dsn(url))
    try:
        owners = await conn.fetch(
            "SELECT organization_id AS id FROM programs WHERE status = 'active' "
            "AND accepting_referrals GROUP BY organization_id "
            "ORDER BY count(*) DESC, organization_id LIMIT $1",
            n_providers,
        )
        provider_ids = [r["id"] for r in owners]
        # Programs a school can refer to: taking referrals, enrollment not closed, and a
        # free seat, uncounted seats or a waitlist (referrals/capacity.py).
        referable = await conn.fetch(
            "SELECT id FROM programs WHERE status = 'active' AND accepting_referrals "
            "AND enrollment_status <> 'closed' AND (seats_available IS NULL "
            "OR seats_available > 0 OR enrollment_status = 'waitlist') "
            "AND organization_id = ANY($1::uuid[])",
            provider_ids,
        )
        programs = await conn.fetch(
            "SELECT id FROM programs WHERE status = 'active' ORDER BY id LIMIT 2000"
        )
    finally:
        await conn.close()
    engine = create_async_engine(url, poolclass=NullPool)
    schools, providers = [], {}
    async with AsyncSession(engine) as session, session.begin():
        for i in range(n_schools):
            org = await make_org(session, OrganizationType.school, f"Load School {i}")
            _, token = await create_key(
                session, name="load", role=Role.school, organization_id=org.id
            )
            schools.append((str(org.id), {"Authorization": f"Bearer {token}"}))
        for org_id in provider_ids:
            _, token = await create_key(
                session, name="load", role=Role.provider, organization_id=org_id
            )
            providers[str(org_id)] = {"Authorization": f"Bearer {token}"}
    await engine.dispose()
    return World(
        schools,
        providers,
        referable=[str(r["id"]) for r in referable],
        programs=[str(r["id"]) for r in programs],
    )


async def enrol(base: str, world: World, per_school: int, hook_url: str) -> None:
    """Students with a consent covering every category; each school subscribes a webhook
    endpoint (never delivered to: the outbox only fills)."""
    everything = [c.value for c in Category]
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:

        async def one(school: str, headers: dict[str, str], n: int) -> None:
            body = student_body(student_number=f"L-{n}", first_name=f"Student{n}")
            student = await client.post("/students", json=body, headers=headers)
            assert student.status_code == 201, student.text
            sid = student.json()["id"]
            consent = await client.post(
                f"/students/{sid}/consents",
                json=consent_body(recipient_categories=everything),
                headers=headers,
            )
            assert consent.status_code == 201, consent.text
            world.students.setdefault(school, []).append(sid)

        for school, headers in world.schools:
            hook = await client.post(
                "/webhook-endpoints",
                json={"url": hook_url, "events": ["referral.created", "referral.status_changed"]},
                headers=headers,
            )
            assert hook.status_code == 201, hook.text
            for start in range(0, per_school, 10):
                stop = min(per_school, start + 10)
                await asyncio.gather(*(one(school, headers, n) for n in range(start, stop)))


@dataclass
class Ref:
    """What the clients last saw of a referral: a (version, status) pair from one answer."""

    id: str
    school: int
    provider: str
    version: int
    status: str


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Acked:
    """Acknowledged writes and states, to check against the database afterwards."""

    keys: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # key -> ids
    transitions: list[tuple[str, int, str, str]] = field(default_factory=list)  # id, v, to, side
    states: set[tuple[str, int, str]] = field(default_factory=set)  # id, version, status
    provider_seen: set[str] = field(default_factory=set)  # a provider's 2xx read or move


@dataclass
class Load:
    world: World
    rng: random.Random
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    acked: Acked = field(default_factory=Acked)
    weights: dict[str, int] = field(default_factory=lambda: dict(WEIGHTS))
    refs: dict[str, Ref] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)
    open: list[str] = field(default_factory=list)
    newest: list[str] = field(default_factory=list)

    def restart(self) -> dict[str, Counter[str]]:
        """Count anew after a warm-up; what was acknowledged stays, to be checked. The
        warm-up's statuses."""
        warm = dict(self.statuses)
        self.statuses = defaultdict(Counter)
        self.latencies = defaultdict(list)
        return warm

    async def call(
        self,
        client: aiohttp.ClientSession,
        kind: str,
        method: str,
        path: str,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Answer | None:
        t0 = time.perf_counter()
        if json is not None:
            headers = {**(headers or {}), "Content-Type": "application/json"}
        try:
            async with client.request(
                method, path, data=None if json is None else orjson.dumps(json), headers=headers
            ) as response:
                answer = Answer(response.status, await response.read())
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.statuses[kind][f"transport:{type(exc).__name__}"] += 1
            return None
        self.latencies[kind].append((time.perf_counter() - t0) * 1000)
        status = str(answer.status_code)
        if answer.status_code == 422:  # which refusal: some are outcomes of the mix
            status += f":{answer.json().get('code')}"
        self.statuses[kind][status] += 1
        return answer

    def saw(self, body: dict[str, Any], school: int, provider_side: bool) -> None:
        """Remember a referral state from a 2xx answer (newest version wins)."""
        rid, version, status = body["id"], body["version"], body["status"]
        self.acked.states.add((rid, version, status))
        if provider_side:
            self.acked.provider_seen.add(rid)
        ref = self.refs.get(rid)
        if ref is None:
            self.refs[rid] = Ref(rid, school, body["provider_id"], version, status)
            self.ids.append(rid)
            self.open.append(rid)
            self.newest = [*self.newest[-(HOT - 1) :], rid]
        elif version > ref.version:
            ref.version, ref.status = version, status

    def pick_open(self) -> Ref | None:
        while self.open:
            pool = self.newest if self.newest and self.rng.random() < 0.5 else self.open
            rid = self.rng.choice(pool)
            if self.refs[rid].status not in CLOSED:
                return self.refs[rid]
            if rid in self.newest:
                self.newest.remove(rid)
            self.open.remove(rid)
        return None

    # ------------------------------------------------------------ operations

    async def search(self, client: aiohttp.ClientSession) -> None:
        params = self.rng.choice(list(shapes(self.rng).values()))
        await self.call(client, "search", "GET", "/search/programs?" + urlencode(params))

    async def program(self, client: aiohttp.ClientSession) -> None:
        await self.call(
            client, "program", "GET", f"/programs/{self.rng.choice(self.world.programs)}"
        )

    async def referral_read(self, client: aiohttp.ClientSession, ref: Ref | None = None) -> None:
        if ref is None:
            if not self.ids:
                return
            ref = self.refs[self.rng.choice(self.ids)]
        provider_side = self.rng.random() < 0.5
        headers = (
            self.world.providers[ref.provider]
            if provider_side
            else self.world.schools[ref.school][1]
        )
        response = await self.call(
            client, "referral_read", "GET", f"/referrals/{ref.id}", headers=headers
        )
        if response is not None and response.status_code == 200:
            self.saw(response.json(), ref.school, provider_side)

    async def create(self, client: aiohttp.ClientSession) -> None:
        school = self.rng.randrange(len(self.world.schools))
        school_id, headers = self.world.schools[school]
        body = {
            "student_id": self.rng.choice(self.world.students[school_id]),
            "program_id": self.rng.choice(self.world.referable),
            "need": self.rng.choice(["academic_support", "mentoring", "enrichment"]),
            "need_text": "Load test referral.",
        }
        key = str(uuid.uuid4())
        send: dict[str, Any] = {"json": body, "headers": {**headers, "Idempotency-Key": key}}
        roll = self.rng.random()
        if roll < 0.05:  # a double click: the same request twice at once
            answers = await asyncio.gather(
                self.call(client, "create", "POST", "/referrals", **send),
                self.call(client, "create_retry", "POST", "/referrals", **send),
            )
        else:
            answers = [await self.call(client, "create", "POST", "/referrals", **send)]
            if roll < 0.15:  # the answer was lost: retry with the same key
                answers.append(
                    await self.call(client, "create_retry", "POST", "/referrals", **send)
                )
        for response in answers:
            if response is not None and response.status_code == 201:
                created = response.json()
                self.acked.keys[key].add(created["id"])
                self.saw(created, school, provider_side=False)

    async def transition(self, client: aiohttp.ClientSession) -> None:
        ref = self.pick_open()
        if ref is None:
            return await self.create(client)
        version, status = ref.version, ref.status
        if self.rng.random() < 0.15 or status not in PROVIDER_MOVES:
            side, to, reason = "school", "cancelled", "no_longer_needed"
            headers = self.world.schools[ref.school][1]
        else:
            moves = PROVIDER_MOVES[status]
            to, reason, _ = self.rng.choices(moves, weights=[w for *_, w in moves])[0]
            side, headers = "provider", self.world.providers[ref.provider]
        body = {"to": to, **({"reason": reason} if reason else {})}
        response = await self.call(
            client,
            "transition",
            "POST",
            f"/referrals/{ref.id}/transitions",
            json=body,
            headers={**headers, "If-Match": f'"{version}"'},
        )
        if response is None:
            return
        if response.status_code == 200:
            moved = response.json()
            self.acked.transitions.append((ref.id, moved["version"], to, side))
            self.saw(moved, ref.school, side == "provider")
        elif response.status_code == 412:  # someone moved it first: read it again
            await self.referral_read(client, ref)

    async def client(self, client: aiohttp.ClientSession, deadline: float) -> None:
        kinds, weights = list(self.weights), list(self.weights.values())
        while time.monotonic() < deadline:
            kind = self.rng.choices(kinds, weights=weights)[0]
            await getattr(self, kind)(client)


async def run(base: str, load: Load, clients: int, seconds: float) -> float:
    """Drive the mix with `clients` concurrent clients for `seconds`; returns the elapsed time."""
    connector = aiohttp.TCPConnector(limit=clients * 2)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as client:
        started = time.monotonic()
        await asyncio.gather(*(load.client(client, started + seconds) for _ in range(clients)))
        return time.monotonic() - started
