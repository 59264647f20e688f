"""PostgreSQL restarts (or crashes) under a stream of referral writes.

The app runs under uvicorn against a private cluster (tests/faults/conftest.py; the
shared server is never touched) while CLIENTS clients create referrals and move them
(provider accepts, school cancels, the pair is referred again) as fast as they can. A
client that gets a 503 pauses and sends the same request again (same Idempotency-Key,
same If-Match), as a client honouring Retry-After would. In the middle the cluster is
restarted (`pg_ctl restart -m fast`: every session terminated, down for a moment), then
in a second round crashed (`pg_ctl stop -m immediate`, down DOWN_S, started again: crash
recovery replays the WAL). After each round:

* every refused attempt was a 503 `database_unavailable` with Retry-After. No other
  status is legitimate here: each referral is moved by one client only (no 409/412), the
  bodies are valid, and the API process stays up; a 500 or a dropped connection fails;
* a refused attempt left nothing: sent again, it ran anew (a transition's If-Match still
  matched). The one exception the database cannot rule out is a COMMIT that was durable
  while its acknowledgement died with the session: that create's retry, same
  Idempotency-Key, replays the stored answer (`Idempotent-Replayed`), which is what
  idempotency is for, and the referral is still there once;
* the database holds exactly what was acknowledged: one referral per 201, with its
  timeline events (sent; received and accepted; cancelled), version, status, webhook
  messages, audit rows and idempotency record (with its stored result), and no partial
  rows (no referral without its creation event, no message, audit row or key without
  its referral);
* the API answered 2xx again by itself, within RECOVERY_S of the database being back
  (measured and printed), and logged no error.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from service.app import create_app
from service.auth.roles import Role
from service.catalog.enums import OrganizationType
from service.idempotency import stored_response
from service.sealing.keyring import keyring
from service.settings import Settings
from tests.conftest import Caller, make_caller, make_org
from tests.faults.conftest import PrivateCluster
from tests.perf.harness import free_port
from tests.referrals.conftest import consent_body, student_body

CLIENTS = 6
STUDENTS_PER_CLIENT = 4
PROGRAMS = 6
BEFORE_S = 1.5  # writing before the fault
AFTER_S = 3.0  # writing after the database is back
RECOVERY_S = 5.0  # the API must answer 2xx again within this long after the database is up
DOWN_S = 1.0  # how long the crashed cluster stays down
RETRY_PAUSE_S = 0.2  # a client pauses this long after a 503 (Retry-After says 5)


class Errors(logging.Handler):
    """What the server logged at ERROR or above (an exception in a request: a bug)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(self.format(record))


@dataclass
class Live:
    cluster: PrivateCluster
    base: str
    errors: Errors
    school: Caller
    provider: Caller
    students: list[str]
    programs: list[str]


@pytest.fixture(scope="module")
def served(private_cluster: PrivateCluster, settings: Settings) -> Iterator[tuple[str, Errors]]:
    """The app under uvicorn (in a thread, as tests/contract does) on the private cluster.

    `settings` is the tests' own (webhooks to localhost allowed), which services read."""
    settings = settings.model_copy(
        update={
            "database_url": private_cluster.url,
            "db_pool_size": 8,
            "rate_limits_enabled": False,
            "search_cache_ttl_s": 0,
            "meili_url": None,
        }
    )
    errors = Errors()
    logging.getLogger().addHandler(errors)
    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_config=None, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", errors
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        logging.getLogger().removeHandler(errors)


async def _ok(response: httpx.Response) -> Any:
    assert response.status_code in (200, 201), response.text
    return response.json()


@pytest.fixture(scope="module")
async def live(private_cluster: PrivateCluster, served: tuple[str, Errors]) -> Live:
    engine = create_async_engine(private_cluster.url, poolclass=NullPool)
    async with AsyncSession(engine) as session, session.begin():
        school = await make_caller(
            session, Role.school, await make_org(session, OrganizationType.school, "School")
        )
        provider = await make_caller(
            session, Role.provider, await make_org(session, OrganizationType.provider, "Provider")
        )
    await engine.dispose()
    base, errors = served
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        programs = []
        for n in range(PROGRAMS):
            body = {"name": f"Program {n}", "category": "out_of_school_time"}
            created = await client.post("/programs", json=body, headers=provider.headers)
            programs.append((await _ok(created))["id"])
        students = []
        for n in range(CLIENTS * STUDENTS_PER_CLIENT):
            body = student_body(student_number=f"S-{n}", first_name=f"Student{n}")
            student = await _ok(await client.post("/students", json=body, headers=school.headers))
            path = f"/students/{student['id']}/consents"
            await _ok(await client.post(path, json=consent_body(), headers=school.headers))
            students.append(student["id"])
        # Messages are queued, never sent (no worker here): the URL only has to be valid.
        events = ["referral.created", "referral.status_changed"]
        hook = {"url": "https://127.0.0.1:9/hooks", "events": events}
        await _ok(await client.post("/webhook-endpoints", json=hook, headers=provider.headers))
    return Live(private_cluster, base, errors, school, provider, students, programs)


# ---------------------------------------------------------------- the stream of writes


@dataclass
class Attempt:
    """One HTTP request of a write; a write refused with 503 is attempted again."""

    kind: str  # create | accept | cancel
    status: int  # 0: no HTTP answer at all
    started: float
    ended: float
    referral: str | None = None
    key: str | None = None  # the Idempotency-Key of the write
    code: str | None = None
    retry_after: str | None = None
    replayed: bool = False
    retried: bool = False  # an earlier attempt of this write was refused

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


async def _until_done(
    client: httpx.AsyncClient,
    attempts: list[Attempt],
    kind: str,
    path: str,
    body: dict[str, Any],
    headers: dict[str, str],
    **ids: str,
) -> tuple[Attempt, dict[str, Any], str] | None:
    """Send a write until it is answered 2xx, pausing RETRY_PAUSE_S after each 503 as a
    client honouring Retry-After would (shortened); the same Idempotency-Key and If-Match
    every time. Anything else than a 503 ends the write (and fails the test later)."""
    retried = False
    while True:
        attempt = Attempt(kind, 0, time.monotonic(), 0.0, retried=retried, **ids)
        try:
            response = await client.post(path, json=body, headers=headers)
        except httpx.TransportError as exc:  # the API dropped the connection
            attempt.code = repr(exc)
        else:
            attempt.status = response.status_code
            attempt.replayed = response.headers.get("Idempotent-Replayed") == "true"
        attempt.ended = time.monotonic()
        attempts.append(attempt)
        if attempt.ok:
            return attempt, response.json(), response.headers["ETag"]
        if attempt.status:
            problem = response.json() if "json" in response.headers["content-type"] else {}
            attempt.code = problem.get("code")
            attempt.retry_after = response.headers.get("Retry-After")
        if attempt.status != 503:
            return None
        retried = True
        await asyncio.sleep(RETRY_PAUSE_S)


async def _client(
    live: Live, mine: list[str], stop: asyncio.Event, attempts: list[Attempt]
) -> None:
    """Refer, accept, cancel, again and again, until told to stop."""
    pairs = deque((s, p) for s in mine for p in live.programs)
    school, provider = live.school.headers, live.provider.headers
    async with httpx.AsyncClient(base_url=live.base, timeout=30) as client:
        while not stop.is_set() and pairs:
            student, program = pairs.popleft()
            key = str(uuid.uuid4())
            body = {"student_id": student, "program_id": program, "need": "other"}
            headers = {**school, "Idempotency-Key": key}
            done = await _until_done(
                client, attempts, "create", "/referrals", body, headers, key=key
            )
            if done is None:
                continue
            created, referral, etag = done
            created.referral = referral["id"]
            path = f"/referrals/{referral['id']}/transitions"
            for kind, by, move in (
                ("accept", provider, {"to": "accepted"}),
                ("cancel", school, {"to": "cancelled", "reason": "no_longer_needed"}),
            ):
                key = str(uuid.uuid4())
                headers = {**by, "If-Match": etag, "Idempotency-Key": key}
                done = await _until_done(
                    client, attempts, kind, path, move, headers, referral=referral["id"], key=key
                )
                if done is None:
                    break
                etag = done[2]
            else:
                pairs.append((student, program))  # its loop is closed: refer again later


async def _stream(live: Live, fault: Callable[[], None]) -> tuple[list[Attempt], float, float]:
    stop = asyncio.Event()
    attempts: list[Attempt] = []
    per = STUDENTS_PER_CLIENT
    tasks = [
        asyncio.create_task(_client(live, live.students[i * per : (i + 1) * per], stop, attempts))
        for i in range(CLIENTS)
    ]
    try:
        await asyncio.sleep(BEFORE_S)
        fault_at = time.monotonic()
        await asyncio.to_thread(fault)
        up_at = time.monotonic()
        await asyncio.sleep(AFTER_S)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
    return attempts, fault_at, up_at


# ---------------------------------------------------------------- what the database holds


async def _verify(cluster: PrivateCluster, acked: list[Attempt]) -> None:
    """The database holds exactly what the acknowledged writes made, and nothing else."""
    moved = {(w.referral, w.kind) for w in acked if w.kind != "create"}
    created = {w.referral: w.key for w in acked if w.kind == "create"}
    conn = await asyncpg.connect(cluster.dsn)
    try:
        referrals = {
            str(r["id"]): (r["status"], r["version"])
            for r in await conn.fetch("SELECT id, status, version FROM referrals")
        }
        events: dict[str, list[tuple[str | None, str]]] = {}
        for r in await conn.fetch(
            "SELECT referral_id, from_status, to_status FROM referral_events ORDER BY version, id"
        ):
            events.setdefault(str(r["referral_id"]), []).append((r["from_status"], r["to_status"]))
        messages: dict[str, Counter[tuple[str, str]]] = {}
        for r in await conn.fetch(
            "SELECT event_type, payload->'data'->>'referral_id' AS referral, "
            "payload->'data'->>'status' AS status FROM webhook_messages"
        ):
            messages.setdefault(r["referral"], Counter())[(r["event_type"], r["status"])] += 1
        audits: dict[str, Counter[str]] = {}
        for r in await conn.fetch(
            "SELECT action, subject_id FROM audit_log WHERE subject_type = 'referral'"
        ):
            audits.setdefault(r["subject_id"], Counter())[r["action"]] += 1
        ring = keyring()
        keys = {
            r["key"]: (
                r["status_code"],
                stored_response(ring, r["api_key_id"], r["key"], r["key_id"], r["response"])["id"],
            )
            for r in await conn.fetch(
                "SELECT api_key_id, key, key_id, response, status_code FROM idempotency_keys"
            )
        }
    finally:
        await conn.close()

    # Exactly the acknowledged referrals: a 503 create left no referral behind.
    assert set(referrals) == set(created), (
        f"{len(set(referrals) - set(created))} referrals nobody was told of, "
        f"{len(set(created) - set(referrals))} acknowledged referrals missing"
    )
    # Idempotency records: one per acknowledged write, each with its result.
    assert keys == {w.key: (201 if w.kind == "create" else 200, w.referral) for w in acked}
    # Nothing hangs off a referral that does not exist.
    assert set(events) <= set(referrals) and set(messages) <= set(referrals)
    assert set(audits) <= set(referrals)

    for referral, (status, version) in referrals.items():
        expected = ["sent"]
        if (referral, "accept") in moved:
            expected += ["received", "accepted"]
        if (referral, "cancel") in moved:
            expected += ["cancelled"]
        timeline = events.get(referral, [])
        assert [to for _, to in timeline] == expected, (referral, timeline)
        assert [frm for frm, _ in timeline] == [None, *expected[:-1]]
        assert (status, version) == (expected[-1], len(expected))
        assert messages.get(referral) == Counter(
            [("referral.created", "sent")]
            + [("referral.status_changed", to) for to in expected[1:]]
        ), referral
        assert audits.get(referral) == Counter(
            ["referral.create"]
            + ["referral.accepted"] * ((referral, "accept") in moved)
            + ["referral.cancelled"] * ((referral, "cancel") in moved)
        ), referral


def _restart(cluster: PrivateCluster) -> None:
    cluster.restart("fast")


def _crash(cluster: PrivateCluster) -> None:
    cluster.stop("immediate")  # no shutdown checkpoint: the start replays the WAL
    time.sleep(DOWN_S)
    cluster.start()


async def _clean(live: Live) -> None:
    conn = await asyncpg.connect(live.cluster.dsn)
    try:
        await conn.execute(
            "TRUNCATE referrals, referral_events, webhook_messages, idempotency_keys, "
            "audit_log CASCADE"
        )
        await conn.execute("CHECKPOINT")  # what a crash then replays is the stream's WAL
    finally:
        await conn.close()
    live.errors.records.clear()


async def _survives(live: Live, fault: Callable[[PrivateCluster], None]) -> None:
    await _clean(live)
    attempts, fault_at, up_at = await _stream(live, lambda: fault(live.cluster))
    refused = [a for a in attempts if not a.ok]
    acked = [a for a in attempts if a.ok]
    logged = "\n".join(live.errors.records)

    # Every refusal was a 503 to retry, said so in problem+json with Retry-After.
    assert Counter((a.status, a.code, a.retry_after) for a in refused) == Counter(
        {(503, "database_unavailable", "5"): len(refused)}
    ), (fault.__name__, Counter((a.status, a.code) for a in refused), logged[-4000:])
    if fault is _crash:  # down a whole second: every client must have met it
        assert refused, "the crash hit no write: the test proved nothing"
    # ... and left nothing behind: sent again, the write ran anew (a transition's If-Match
    # still matched). A write may meet the one case the database cannot rule out: its
    # COMMIT was durable but the acknowledgement died with the session (seen about once in
    # five crash rounds). The retry, same Idempotency-Key, then replays the stored answer
    # (for a transition, instead of a 412 against its own move): the same referral and
    # move, once in the database (checked below), as idempotency promises.
    replayed = [a for a in acked if a.replayed]
    assert all(a.retried for a in replayed), replayed  # a replay answers only a retry

    # The API recovered by itself, without a restart of its own.
    first_ok = min((a.ended for a in acked if a.started >= up_at), default=float("inf"))
    recovery = first_ok - up_at
    last_refusal = max(a.ended for a in refused) - up_at
    print(
        f"\n{fault.__name__}: {len(acked)} writes acknowledged, {len(refused)} attempts "
        f"refused with 503 {dict(Counter(a.kind for a in refused))}; the database was "
        f"down {up_at - fault_at:.2f}s; first 2xx {recovery:.2f}s after it was back, "
        f"last 503 {last_refusal:+.2f}s"
    )
    assert recovery <= RECOVERY_S and last_refusal <= RECOVERY_S, fault.__name__
    assert sum(a.started > last_refusal + up_at for a in acked) >= 10, fault.__name__

    await _verify(live.cluster, acked)
    assert not logged, f"the API logged errors:\n{logged[-3000:]}"


async def test_acknowledged_writes_survive_a_restart_and_a_crash(live: Live) -> None:
    """One test, so that a run needs one private cluster (xdist may split parameters)."""
    await _survives(live, _restart)
    await _survives(live, _crash)
