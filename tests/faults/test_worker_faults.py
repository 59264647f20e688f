"""The worker stopped, the search server down, the worker killed mid-batch.

Catalog and referral writes record their side effects in their own transaction (the
search change log by trigger, webhook_messages by `emit`); indexes and the worker apply
them later. So:

* with no worker running, writes succeed, and the API's embedded index has them (it
  follows the log itself); once the worker runs, every webhook is delivered;
* with the search server unreachable (Meilisearch on a closed port: a real connection
  failure), writes succeed, searches answer 503, and the server's follower keeps its
  cursor where it was, with backoff, until an index can take the changes;
* a worker killed with SIGKILL in the middle of a batch (webhooks sent, their delivery
  not recorded) loses nothing: its transaction dies with it, and a new run sends again
  with the same webhook-id (at-least-once; receivers deduplicate on that id, as Standard
  Webhooks says).

These tests run on their own committed database on the shared server (`<prefix>_<worker>
_faults`), so they disturb no other test.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool
from standardwebhooks.webhooks import Webhook

from service import worker
from service.app import create_app
from service.auth.roles import Role
from service.catalog.enums import OrganizationType
from service.search import changelog
from service.search.engines import make_engine, serving
from service.search.follower import Follower, TableCursor
from service.search.query import SearchQuery
from service.search.sources import active_program_ids
from service.search.tantivy.engine import TantivyEngine
from service.search.text import load_synonyms
from service.settings import Settings
from tests.conftest import Caller, make_caller, make_org, make_test_database
from tests.factories import create_program
from tests.perf.harness import free_port
from tests.referrals.conftest import consent_body, post, student_body

Sessions = async_sessionmaker[AsyncSession]


# ---------------------------------------------------------------- a webhook receiver


@dataclass
class Receiver:
    """A webhook consumer on localhost. It deduplicates on webhook-id, as a consumer of
    at-least-once deliveries must; `hold` makes it keep requests unanswered."""

    url: str = ""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    processed: dict[str, bytes] = field(default_factory=dict)  # webhook-id -> body
    hold: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def consume(self, headers: dict[str, str], body: bytes) -> None:
        self.received.append((headers, body))
        if headers["webhook-id"] not in self.processed:  # a redelivery changes nothing
            self.processed[headers["webhook-id"]] = body


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            headers = {k.lower(): v for k, v in self.headers.items()}
            if state.hold.is_set():  # seen, but never answered (the sender dies meanwhile)
                state.received.append((headers, body))
                state.released.wait(60)
                return
            state.consume(headers, body)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.released.set()
    server.shutdown()


# ---------------------------------------------------------------- a committed world


@pytest.fixture(scope="session")
def faults_database(worker_id_safe: str) -> str:
    return make_test_database(f"{worker_id_safe}_faults")


@dataclass
class World:
    url: str
    app: FastAPI
    client: httpx.AsyncClient
    sessions: Sessions
    school: Caller
    provider: Caller
    admin: Caller

    async def scalar(self, sql: str) -> Any:
        async with self.sessions() as session:
            return await session.scalar(text(sql))

    async def ids(self, sql: str) -> set[uuid.UUID]:
        async with self.sessions() as session:
            return set(await session.scalars(text(sql)))

    async def active(self) -> set[uuid.UUID]:
        async with self.sessions() as session:
            return set(await active_program_ids(session, None, 1_000_000))

    async def searched(self, **params: Any) -> set[uuid.UUID]:
        found = await self.client.get("/search/programs", params={"per_page": 100, **params})
        assert found.status_code == 200, found.text
        return {uuid.UUID(h["id"]) for h in found.json()["contents"]}


@pytest.fixture
async def world(faults_database: str, settings: Settings) -> AsyncIterator[World]:
    engine = create_async_engine(faults_database, poolclass=NullPool)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session, session.begin():
        await session.execute(
            text(
                "TRUNCATE organizations, api_keys, idempotency_keys, audit_log, "
                "search_changes, search_cursors CASCADE"
            )
        )
        school = await make_caller(
            session, Role.school, await make_org(session, OrganizationType.school, "School")
        )
        provider = await make_caller(
            session, Role.provider, await make_org(session, OrganizationType.provider, "Provider")
        )
        admin = await make_caller(session, Role.admin)
    app = create_app(settings.model_copy(update={"database_url": faults_database}))
    app.state.sessionmaker = sessions
    app.state.search = serving(settings.model_copy(update={"meili_url": None}), sessions)
    app.state.after_catalog_write = [app.state.search.wrote]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield World(faults_database, app, client, sessions, school, provider, admin)
    await engine.dispose()


async def _refer(world: World, programs: list[dict[str, Any]]) -> None:
    student = await post(world.client, world.school, "/students", student_body())
    path = f"/students/{student['id']}/consents"
    await post(world.client, world.school, path, consent_body())
    for program in programs:
        body = {"student_id": student["id"], "program_id": program["id"], "need": "other"}
        await post(world.client, world.school, "/referrals", body)


async def _subscribe(world: World, receiver: Receiver) -> str:
    events = {"url": receiver.url, "events": ["referral.created", "referral.status_changed"]}
    return str((await post(world.client, world.provider, "/webhook-endpoints", events))["secret"])


async def _until(check: Any, within: float, what: str) -> float:
    """Poll the async predicate `check` until true; the seconds it took."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > within:
            pytest.fail(f"not within {within}s: {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


# ---------------------------------------------------------------- the worker stopped


async def test_writes_succeed_without_a_worker_and_it_catches_up(
    world: World, receiver: Receiver
) -> None:
    await _subscribe(world, receiver)
    programs = [
        await create_program(world.client, world.provider, name=f"Club {n}") for n in range(12)
    ]
    for program in programs[:3]:
        response = await world.client.patch(
            f"/programs/{program['id']}",
            json={"name": f"Renamed {program['name']}"},
            headers=world.provider.headers,
        )
        assert response.status_code == 200, response.text
    gone = await world.client.delete(
        f"/programs/{programs[-1]['id']}", headers=world.provider.headers
    )
    assert gone.status_code == 204, gone.text
    await _refer(world, programs[:3])

    # The API's embedded index has every write (renames and the deletion too); the
    # webhooks wait for the worker.
    active = await world.active()
    assert len(active) == 11 and await world.searched() == active
    renamed = await world.searched(q="renamed")
    assert renamed == {uuid.UUID(p["id"]) for p in programs[:3]}
    assert (
        await world.scalar("SELECT count(*) FROM webhook_messages WHERE delivered_at IS NULL") == 3
    )

    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(world.sessions, None, poll_s=0.05, stop=stop))
    try:

        async def caught_up() -> bool:
            pending = await world.scalar(
                "SELECT count(*) FROM webhook_messages WHERE delivered_at IS NULL"
            )
            return bool(pending == 0)

        seconds = await _until(caught_up, 30, "the worker caught up")
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    print(f"\nworker started after the writes: caught up in {seconds:.2f}s")
    assert len(receiver.processed) == len(receiver.received) == 3


# ---------------------------------------------------------------- the search server down


async def test_a_search_outage_keeps_the_cursor_until_an_index_takes_the_changes(
    world: World, settings: Settings
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    down_settings = settings.model_copy(update={"meili_url": closed, "meili_timeout_s": 1})
    world.app.state.search = serving(down_settings, world.sessions)
    programs = [
        await create_program(world.client, world.provider, name=f"Club {n}") for n in range(8)
    ]
    written = {uuid.UUID(p["id"]) for p in programs}

    # Reading the index needs the server: a 503 to retry, not a 500.
    response = await world.client.get("/search/programs", params={"q": "club"})
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "search_unavailable"
    assert response.headers["Retry-After"]
    status = await world.client.get("/search/status", headers=world.admin.headers)
    assert status.status_code == 503, status.text

    # The worker's follower keeps trying, with backoff; its cursor stays where it was.
    cursor = TableCursor("meilisearch")
    down = Follower(
        world.sessions, make_engine(down_settings), name="meilisearch", store=cursor, poll_s=0.05
    )
    stop = asyncio.Event()
    task = asyncio.create_task(down.run(stop))
    await asyncio.sleep(1.0)
    stop.set()
    await asyncio.wait_for(task, 10)
    async with world.sessions() as session:
        row = (
            await session.execute(text("SELECT snapshot, attempts, last_error FROM search_cursors"))
        ).one()
    assert row.snapshot == "" and row.attempts >= 1 and "Meilisearch" in (row.last_error or "")

    # An index that answers takes everything from that cursor. (No Meilisearch server runs
    # in CI, so an embedded index following the same stored cursor stands in for its return.)
    up = TantivyEngine(load_synonyms())
    back = Follower(world.sessions, up, name="meilisearch", store=cursor, poll_s=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(back.run(stop))
    try:

        async def applied() -> bool:
            async with world.sessions() as session:
                stored = await session.scalar(text("SELECT snapshot FROM search_cursors"))
                return bool(stored) and (await changelog.lag(session, stored)).pending == 0

        seconds = await _until(applied, 30, "the index caught up after the outage")
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    print(f"\nsearch server back: the index caught up {seconds:.2f}s later (backoff included)")
    result = await up.search(SearchQuery(text="club", per_page=100))
    assert {h.program_id for h in result.hits} == written == await world.active()


# ---------------------------------------------------------------- the worker killed


def _start_worker(world: World, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "YOUTHLINK_DATABASE_URL": world.url,
        "YOUTHLINK_WEBHOOK_ALLOW_HTTP": "true",
        "YOUTHLINK_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
        "YOUTHLINK_WEBHOOK_TIMEOUT_S": "30",  # the held sends must not time out first
        "YOUTHLINK_LOG_LEVEL": "WARNING",
    }
    env.pop("YOUTHLINK_MEILI_URL", None)
    command = [sys.executable, "-m", "service", "worker", "--poll", "0.1"]
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


async def test_a_worker_killed_mid_batch_loses_nothing_and_redelivers(
    world: World, receiver: Receiver, tmp_path: Path
) -> None:
    secret = await _subscribe(world, receiver)
    programs = [
        await create_program(world.client, world.provider, name=f"Club {n}") for n in range(3)
    ]
    await _refer(world, programs)  # three webhook messages

    # Stall the worker mid-batch: the receiver takes the webhooks and does not answer, so
    # they are sent but their delivery is not recorded when the worker is killed.
    receiver.hold.set()
    process = _start_worker(world, tmp_path / "worker.log")
    try:

        async def mid_batch() -> bool:
            return len(receiver.received) == 3

        await _until(mid_batch, 90, "the worker stalled mid-batch with webhooks in flight")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    async def worker_gone() -> bool:
        left = await world.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = 'youthlink'"
        )
        return left == 0

    await _until(worker_gone, 30, "PostgreSQL ended the dead worker's sessions")
    receiver.released.set()

    # Its transaction died with it: the webhooks it was sending are still undelivered,
    # under their lease.
    async with world.sessions() as session:
        messages = (
            await session.execute(
                text(
                    "SELECT id, attempts, delivered_at, available_at > now() AS leased "
                    "FROM webhook_messages"
                )
            )
        ).all()
    assert [(m.attempts, m.delivered_at, m.leased) for m in messages] == [(0, None, True)] * 3

    # Time passes: the lease (3 x the webhook timeout) runs out. A new run finishes the job.
    async with world.sessions() as session, session.begin():
        await session.execute(text("UPDATE webhook_messages SET available_at = now()"))
    receiver.hold.clear()
    _, delivered, _ = await worker.run_once(world.sessions, None)
    assert (delivered.sent, delivered.failed) == (3, 0)

    # At least once: each webhook came twice, with the same id and body, each signed; the
    # receiver acted on each once.
    ids = Counter(headers["webhook-id"] for headers, _ in receiver.received)
    assert sorted(ids.values()) == [2, 2, 2] and set(ids) == {str(m.id) for m in messages}
    for headers, body in receiver.received:
        assert Webhook(secret).verify(body, headers)["type"] == "referral.created"
        assert body == receiver.processed[headers["webhook-id"]]
    assert len(receiver.processed) == 3
    log = await world.scalar("SELECT count(*) FROM webhook_attempts")
    assert log == 3  # the killed sends left no attempt behind
