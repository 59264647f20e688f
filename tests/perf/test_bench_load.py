"""Load test: a sustained mix of search, reads, referral creation and transitions, then a
check that every acknowledged write is in the database and consistent.

    make bench                                            # with the other benchmarks
    BENCH_LOAD_SECONDS=60 BENCH_LOAD_CLIENTS=16 .venv/bin/python -m pytest \\
        tests/perf/test_bench_load.py -m perf -s -p no:cacheprovider
    BENCH_LOAD_MIX=writes ...        # referral creation and transitions only
    BENCH_LOAD_WARMUP_S=0 ...        # measure from a cold start (default: 10 s unmeasured)

A fresh database gets BENCH_LOAD_PROGRAMS synthetic programs (reindexed), several schools
and provider organizations with API keys, students with consents, and a webhook endpoint
per school (never delivered to, so its outbox fills). `python -m service serve` (uvicorn,
BENCH_LOAD_WORKERS processes) serves it on loopback; BENCH_LOAD_CLIENTS httpx clients in
this process send a weighted mix (load_mix.WEIGHTS) for BENCH_LOAD_SECONDS: searches,
program reads, referral reads by either side, referral creation with an Idempotency-Key
(5% sent twice at once, 10% retried after the answer) and transitions with If-Match taken
from the last answer seen (half of them on the 32 newest referrals, so clients race).

Printed per kind of request: count, rate, p50/p95/p99 and status counts. 409 (duplicate
open referral, key in use) and 412 (stale ETag) are expected outcomes; 5xx and transport
errors are errors. Timings are printed, not asserted. Asserted: no errors, no other 4xx,
and the consistency checks in `_problems` on the rows the run left behind.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import time
from collections import Counter, defaultdict
from typing import Any

import asyncpg
import pytest

from service.idempotency import stored_response
from service.referrals.states import Reason, Side, Status, check
from service.sealing.keyring import keyring
from service.settings import Settings
from tests.conftest import make_test_database
from tests.perf.harness import cpu_of, free_port, machine_speed_ms, pct, serve, wait_ready
from tests.perf.load_mix import CLOSED, WEIGHTS, WRITES, Acked, Load, _dsn, enrol, make_world, run
from tests.perf.test_bench_search import _generate

pytestmark = pytest.mark.perf

SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", "60"))
CLIENTS = int(os.environ.get("BENCH_LOAD_CLIENTS", "16"))
PROGRAMS = int(os.environ.get("BENCH_LOAD_PROGRAMS", "3000"))
WORKERS = int(os.environ.get("BENCH_LOAD_WORKERS", "2"))
MIX = {"all": WEIGHTS, "writes": WRITES}[os.environ.get("BENCH_LOAD_MIX", "all")]
# The same mix first, unmeasured: the processes' caches (prepared statements, API keys,
# public program documents, search results) fill as they would in a server that has been
# up a while. Its writes are checked with the rest.
WARMUP_S = float(os.environ.get("BENCH_LOAD_WARMUP_S", "10"))
SCHOOLS, PROVIDERS, STUDENTS_PER_SCHOOL = 4, 8, 50
# 409 duplicate or key in use, 412 a lost If-Match race, 422 program_full once enrolments
# in the mix took a program's last seat (referrals/capacity.py).
EXPECTED = {"409", "412", "422:program_full"}


def _report(load: Load, seconds: float) -> None:
    print(
        f"\n{'kind':14s} {'count':>7s} {'req/s':>7s} {'p50':>8s} {'p95':>8s} {'p99':>8s}  statuses"
    )
    total = 0
    for kind in sorted(load.statuses):
        lat, count = load.latencies[kind], sum(load.statuses[kind].values())
        total += count
        timing = f"{pct(lat, 50):6.1f}ms {pct(lat, 95):6.1f}ms {pct(lat, 99):6.1f}ms" if lat else ""
        codes = " ".join(f"{c}:{n}" for c, n in sorted(load.statuses[kind].items()))
        print(f"{kind:14s} {count:7d} {count / seconds:7.1f} {timing}  {codes}")
    writes = [x for k in ("create", "create_retry", "transition") for x in load.latencies[k]]
    if writes:
        print(
            f"{'writes':14s} {len(writes):7d} {len(writes) / seconds:7.1f} "
            f"{pct(writes, 50):6.1f}ms {pct(writes, 95):6.1f}ms {pct(writes, 99):6.1f}ms  "
            "(create, its retries and transitions together)"
        )
    print(f"{'all':14s} {total:7d} {total / seconds:7.1f}")


async def _rows(url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(_dsn(url))
    try:
        return {
            "referrals": await conn.fetch(
                "SELECT id::text, school_id::text, status, status_reason, version, "
                "received_at IS NOT NULL AS received, closed_at IS NOT NULL AS closed "
                "FROM referrals"
            ),
            "events": await conn.fetch(
                "SELECT referral_id::text, from_status, to_status, side, reason "
                "FROM referral_events ORDER BY referral_id, version, id"
            ),
            "keys": [
                {
                    "key": r["key"],
                    "status_code": r["status_code"],
                    "id": stored_response(
                        keyring(), r["api_key_id"], r["key"], r["key_id"], r["response"]
                    )["id"],
                }
                for r in await conn.fetch(
                    "SELECT api_key_id, key, key_id, response, status_code FROM idempotency_keys "
                    "WHERE operation = 'referrals_create'"
                )
            ],
            "hooks": await conn.fetch(
                "SELECT e.organization_id::text AS org, count(m.id) AS n, "
                "count(m.id) FILTER (WHERE m.delivered_at IS NULL) AS queued "
                "FROM webhook_endpoints e LEFT JOIN webhook_messages m ON m.endpoint_id = e.id "
                "GROUP BY e.organization_id"
            ),
            "malformed": await conn.fetchval(
                "SELECT (SELECT count(*) FROM webhook_messages WHERE jsonb_typeof(payload) "
                "<> 'object' OR payload->'data'->>'referral_id' IS NULL) + (SELECT count(*) "
                "FROM idempotency_keys WHERE jsonb_typeof(headers) <> 'object')"
            ),
            "search_changes": await conn.fetchval("SELECT count(*) FROM search_changes"),
            "audit": await conn.fetchval("SELECT count(*) FROM audit_log"),
        }
    finally:
        await conn.close()


def _path_problems(rid: str, row: Any, events: list[Any]) -> list[str]:
    """The timeline is a walk of the state machine that ends at the referral's status."""
    out = []
    if not events or (events[0]["from_status"], events[0]["to_status"]) != (None, "sent"):
        return [f"{rid}: the timeline does not start with sent"]
    for before, event in itertools.pairwise(events):
        if event["from_status"] != before["to_status"]:
            out.append(f"{rid}: event from {event['from_status']} after {before['to_status']}")
        reason = Reason(event["reason"]) if event["reason"] else None
        refusal = check(
            Status(event["from_status"]), Status(event["to_status"]), Side(event["side"]), reason
        )
        if refusal is not None:
            out.append(f"{rid}: {refusal.detail}")
    last = events[-1]
    if row["status"] != last["to_status"]:
        out.append(f"{rid}: status {row['status']} but the last event reached {last['to_status']}")
    if row["version"] != len(events):
        out.append(f"{rid}: version {row['version']} with {len(events)} events")
    if row["status"] in CLOSED and row["status_reason"] != last["reason"]:
        out.append(f"{rid}: reason {row['status_reason']}, last event's {last['reason']}")
    if row["closed"] != (row["status"] in CLOSED):
        out.append(f"{rid}: closed_at does not match status {row['status']}")
    if row["received"] != any(e["to_status"] == "received" for e in events):
        out.append(f"{rid}: received_at does not match the timeline")
    return out


def _problems(rows: dict[str, Any], acked: Acked, lost: Counter[str]) -> list[str]:
    """Every way the database disagrees with what the clients were told."""
    out: list[str] = []
    referrals = {r["id"]: r for r in rows["referrals"]}
    events: dict[str, list[Any]] = defaultdict(list)
    for event in rows["events"]:
        events[event["referral_id"]].append(event)
    # Creation: each Idempotency-Key gave one referral, and it is stored once.
    created = set()
    stored = {r["key"]: r["id"] for r in rows["keys"]}
    for key, ids in acked.keys.items():
        if len(ids) != 1:
            out.append(f"key {key} answered with {len(ids)} referrals: {sorted(ids)}")
        created |= ids
        if stored.get(key) not in ids:
            out.append(f"key {key}: the stored answer names {stored.get(key)}, clients saw {ids}")
    out += [f"acknowledged referral {rid} is missing" for rid in created - referrals.keys()]
    extra = len(referrals.keys() - created)
    if extra > lost["create"]:
        out.append(f"{extra} referrals nobody was told about ({lost['create']} answers lost)")
    for rid, row in referrals.items():
        out += _path_problems(rid, row, events[rid])
    # Every acknowledged transition is the event at its version; each version won once.
    won = Counter((rid, version) for rid, version, _, _ in acked.transitions)
    out += [f"{rid} v{v} acknowledged to {n} transitions" for (rid, v), n in won.items() if n > 1]
    for rid, version, to, side in acked.transitions:
        timeline = events.get(rid, [])
        if len(timeline) < version or (
            timeline[version - 1]["to_status"],
            timeline[version - 1]["side"],
        ) != (to, side):
            out.append(f"acknowledged {side} move of {rid} to {to} (v{version}) is not its event")
    # Every state an answer showed is on the timeline at that version.
    for rid, version, status in acked.states:
        timeline = events.get(rid, [])
        if len(timeline) < version or timeline[version - 1]["to_status"] != status:
            out.append(f"an answer showed {rid} v{version} {status}; the timeline disagrees")
    # Counts: one sent event per referral, one per acknowledged move, system receipts.
    moves = sum(e["side"] != "system" and e["from_status"] is not None for e in rows["events"])
    if not 0 <= moves - len(acked.transitions) <= lost["transition"]:
        out.append(f"{moves} school/provider events, {len(acked.transitions)} acknowledged moves")
    receipts = {e["referral_id"] for e in rows["events"] if e["to_status"] == "received"}
    if len(receipts) != sum(e["to_status"] == "received" for e in rows["events"]):
        out.append("a referral was received twice")
    unseen = receipts - acked.provider_seen
    if len(unseen) > lost["referral_read"] + lost["transition"]:
        out.append(f"{len(unseen)} referrals received without an acknowledged provider request")
    if rows["malformed"]:
        out.append(f"{rows['malformed']} webhook payloads or stored headers not JSON objects")
    # The school's webhook outbox holds one message per event of its referrals.
    per_school = Counter(referrals[e["referral_id"]]["school_id"] for e in rows["events"])
    for hook in rows["hooks"]:
        if hook["n"] != per_school[hook["org"]]:
            out.append(
                f"school {hook['org']}: {hook['n']} webhook messages, "
                f"{per_school[hook['org']]} events"
            )
    return out


def test_sustained_mix_keeps_every_acknowledged_write(
    settings: Settings, worker_id_safe: str
) -> None:
    url = make_test_database(f"{worker_id_safe}_bench_load")
    load_s = asyncio.run(_generate(url, PROGRAMS))
    world = asyncio.run(make_world(url, SCHOOLS, PROVIDERS))
    server, base = serve(url, workers=WORKERS, pool_size=10)
    wait_ready(base)  # each worker built its search index
    try:
        hook_url = f"http://127.0.0.1:{free_port()}/hooks"  # nothing listens; nothing sends
        asyncio.run(enrol(base, world, STUDENTS_PER_SCHOOL, hook_url))
        print(
            f"\n== load: {PROGRAMS:,} programs (generated {load_s:.1f} s), "
            f"{SCHOOLS} schools x {STUDENTS_PER_SCHOOL} students, {len(world.providers)} providers "
            f"({len(world.referable)} referable programs); {CLIENTS} clients for {SECONDS:g} s "
            f"sending {MIX}, "
            f"{WORKERS} uvicorn workers; load average before {os.getloadavg()[0]:.2f}"
        )
        load = Load(world, random.Random(7), weights=dict(MIX))
        warm: dict[str, Counter[str]] = {}
        if WARMUP_S > 0:
            asyncio.run(run(base, load, CLIENTS, WARMUP_S))
            warm = load.restart()
            print(f"warm-up: {sum(sum(c.values()) for c in warm.values())} requests, unmeasured")
        speed, cpu, server_cpu = machine_speed_ms(), time.process_time(), cpu_of(server.pid)
        elapsed = asyncio.run(run(base, load, CLIENTS, SECONDS))
        used = {k: v - server_cpu[k] for k, v in cpu_of(server.pid).items()}
        requests = sum(sum(c.values()) for c in load.statuses.values())
        print(
            f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
            f"the clients used {time.process_time() - cpu:.1f} s of CPU in {elapsed:.1f} s\n"
            f"CPU per request: the workers {used['workers'] / requests * 1000:.2f} ms, "
            f"PostgreSQL {used['postgres'] / requests * 1000:.2f} ms; "
            f"machine speed (harness.machine_speed_ms, lower is faster): {speed:.0f} ms before, "
            f"{machine_speed_ms():.0f} ms after"
        )
    finally:
        server.terminate()
        server.wait(timeout=20)
    _report(load, elapsed)
    rows = asyncio.run(_rows(url))
    closed = Counter(r["status"] for r in rows["referrals"])
    print(
        f"database: {len(rows['referrals'])} referrals ({dict(sorted(closed.items()))}), "
        f"{len(rows['events'])} events, {len(load.acked.transitions)} acknowledged moves, "
        f"{sum(len(v) > 0 for v in load.acked.keys.values())} acknowledged keys"
    )
    queued = sum(h["queued"] for h in rows["hooks"])
    print(
        f"outboxes: webhook_messages {queued} queued, search_changes {rows['search_changes']}, "
        f"audit_log {rows['audit']} rows"
    )
    every: dict[str, Counter[str]] = defaultdict(Counter)  # the warm-up's too
    for statuses in (warm, load.statuses):
        for kind, codes in statuses.items():
            every[kind].update(codes)
    errors = {
        kind: {c: n for c, n in codes.items() if c.startswith(("5", "transport"))}
        for kind, codes in every.items()
    }
    lost: Counter[str] = Counter()
    for kind, codes in every.items():
        dropped = sum(n for c, n in codes.items() if c.startswith("transport"))
        lost[kind.removesuffix("_retry")] += dropped
    problems = _problems(rows, load.acked, lost)
    for problem in problems[:30]:
        print("INCONSISTENT:", problem)
    assert not problems, f"{len(problems)} inconsistencies"
    assert not any(errors.values()), errors
    unexpected = {
        kind: {c: n for c, n in codes.items() if c.startswith("4") and c not in EXPECTED}
        for kind, codes in every.items()
    }
    assert not any(unexpected.values()), unexpected
