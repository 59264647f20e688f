"""Against committed rows: concurrent transitions, and webhooks to a real HTTP receiver.

These tests use their own database, because they need what one rolled-back session
cannot give: several connections at once, and a worker that reads what requests wrote.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import text
from standardwebhooks.webhooks import Webhook

from service.settings import Settings
from service.webhooks import delivery
from service.webhooks.service import new_secret
from tests.factories import create_program
from tests.referrals.conftest import post
from tests.referrals.live import Live, Sessions


async def test_of_two_concurrent_transitions_exactly_one_wins(live: Live) -> None:
    for _ in range(5):
        referral = await live.referral()
        path = f"/referrals/{referral['id']}/transitions"
        etag = {"If-Match": f'"{referral["version"]}"'}
        school = live.client.post(
            path, json={"to": "cancelled"}, headers={**live.school.headers, **etag}
        )
        provider = live.client.post(
            path, json={"to": "accepted"}, headers={**live.provider.headers, **etag}
        )
        results = await asyncio.gather(school, provider)
        codes = sorted(r.status_code for r in results)
        assert codes == [200, 412], [r.text for r in results]
        final = (
            await live.client.get(f"/referrals/{referral['id']}", headers=live.school.headers)
        ).json()
        events = [e["to_status"] for e in final["timeline"]]
        assert events[-1] == final["status"]
        assert events.count("cancelled") + events.count("accepted") == 1
        if final["status"] == "accepted":
            await live.client.post(
                path,
                json={"to": "cancelled"},
                headers={**live.school.headers, "If-Match": f'"{final["version"]}"'},
            )


async def _wait_for_a_lock_wait(sessions: Sessions) -> None:
    for _ in range(200):
        async with sessions() as session:
            waiting = await session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
            )
        if waiting:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the request never waited for the row lock")


async def test_a_providers_first_read_does_not_undo_a_concurrent_move(live: Live) -> None:
    """The read sees `sent`, then waits for the row while the provider accepts elsewhere:
    once it has the lock it must see `accepted`, not write `received` over it."""
    referral = await live.referral()
    async with live.sessions() as other, other.begin():
        await other.execute(
            text("SELECT 1 FROM referrals WHERE id = :id FOR UPDATE"), {"id": referral["id"]}
        )
        read = asyncio.create_task(
            live.client.get(f"/referrals/{referral['id']}", headers=live.provider.headers)
        )
        await _wait_for_a_lock_wait(live.sessions)
        await other.execute(
            text(
                "UPDATE referrals SET status = 'accepted', version = 3, received_at = now(), "
                "responded_at = now() WHERE id = :id"
            ),
            {"id": referral["id"]},
        )
        await other.execute(
            text(
                "INSERT INTO referral_events (referral_id, occurred_at, side, from_status, "
                "to_status, version) VALUES (:id, now(), 'system', 'sent', 'received', 2), "
                "(:id, now(), 'provider', 'received', 'accepted', 3)"
            ),
            {"id": referral["id"]},
        )
    response = await read
    assert response.status_code == 200, response.text
    seen = response.json()
    assert (seen["status"], seen["version"]) == ("accepted", 3)
    assert [e["to_status"] for e in seen["timeline"]] == ["sent", "received", "accepted"]


async def test_an_enrolment_overtaken_by_another_move_gives_its_seat_back(live: Live) -> None:
    """An enrolment writes its move and takes its seat in one statement, only if the
    referral is still at the version it was planned on (referrals/writes.py). Here
    another move commits while the enrolment waits for the row: the enrolment answers
    412 and writes nothing, its seat included."""
    async with live.sessions() as session, session.begin():
        await session.execute(
            text("UPDATE programs SET seats_available = 5 WHERE id = :id"),
            {"id": live.program["id"]},
        )
    referral = await live.referral()
    path = f"/referrals/{referral['id']}/transitions"
    accepted = await live.client.post(
        path,
        json={"to": "accepted"},
        headers={**live.provider.headers, "If-Match": f'"{referral["version"]}"'},
    )
    assert accepted.status_code == 200, accepted.text
    version = accepted.json()["version"]
    async with live.sessions() as other, other.begin():
        await other.execute(
            text("SELECT 1 FROM referrals WHERE id = :id FOR UPDATE"), {"id": referral["id"]}
        )
        enrol = asyncio.create_task(
            live.client.post(
                path,
                json={"to": "enrolled"},
                headers={**live.provider.headers, "If-Match": accepted.headers["ETag"]},
            )
        )
        await _wait_for_a_lock_wait(live.sessions)  # the enrolment waits for the row
        seats = await other.scalar(
            text("SELECT seats_available FROM programs WHERE id = :id"),
            {"id": live.program["id"]},
        )
        assert seats == 5  # nothing of the enrolment is committed
        await other.execute(
            text(
                "UPDATE referrals SET status = 'cancelled', version = :v, "
                "status_reason = 'no_longer_needed', closed_at = now() WHERE id = :id"
            ),
            {"id": referral["id"], "v": version + 1},
        )
        await other.execute(
            text(
                "INSERT INTO referral_events (referral_id, occurred_at, side, from_status, "
                "to_status, reason, version) VALUES "
                "(:id, now(), 'school', 'accepted', 'cancelled', 'no_longer_needed', :v)"
            ),
            {"id": referral["id"], "v": version + 1},
        )
    answer = await enrol
    assert answer.status_code == 412, answer.text
    assert answer.json()["code"] == "stale_etag"
    async with live.sessions() as session:
        seats = await session.scalar(
            text("SELECT seats_available FROM programs WHERE id = :id"),
            {"id": live.program["id"]},
        )
        moves = await session.scalar(
            text("SELECT count(*) FROM referral_events WHERE referral_id = :id"),
            {"id": referral["id"]},
        )
    assert seats == 5
    assert moves == version + 1  # nothing of the enrolment was written


async def test_one_idempotency_key_sent_with_two_bodies_at_once_makes_one_referral(
    live: Live,
) -> None:
    """A new referral claims its Idempotency-Key with its answer in its own statement
    (referrals/writes.py). Two requests with one key and different bodies (two
    programs) sent at once: one is created and keeps the key; the other writes nothing
    and is refused, whichever way the race falls (it found the key held: 422; or it
    wrote first and then lost the key: the statement refused itself, 409)."""
    second = await create_program(live.client, live.provider, name="Chess")
    programs = (live.program["id"], second["id"])
    for round_ in range(4):
        key = {**live.school.headers, "Idempotency-Key": f"twice-{round_}"}

        def body(program_id: str) -> dict[str, str]:
            return {"student_id": live.student["id"], "program_id": program_id, "need": "other"}

        answers = await asyncio.gather(
            *(live.client.post("/referrals", json=body(p), headers=key) for p in programs)
        )
        codes = sorted(a.status_code for a in answers)
        assert codes in ([201, 409], [201, 422]), [a.text for a in answers]
        won, made = next(
            (p, a.json()) for p, a in zip(programs, answers, strict=True) if a.status_code == 201
        )
        async with live.sessions() as session:
            open_ = (
                await session.scalars(
                    text("SELECT id::text FROM referrals WHERE status <> 'cancelled'")
                )
            ).all()
            firsts = await session.scalar(
                text("SELECT count(*) FROM referral_events WHERE referral_id = :id"),
                {"id": made["id"]},
            )
        assert list(open_) == [made["id"]] and firsts == 1
        again = await live.client.post("/referrals", json=body(won), headers=key)
        assert again.status_code == 201 and again.json()["id"] == made["id"]  # replayed
        assert again.headers["Idempotent-Replayed"] == "true"
        cancelled = await live.client.post(  # free the student for the next round
            f"/referrals/{made['id']}/transitions",
            json={"to": "cancelled", "reason": "no_longer_needed"},
            headers={**live.school.headers, "If-Match": again.headers["ETag"]},
        )
        assert cancelled.status_code == 200, cancelled.text


@dataclass
class Receiver:
    """An HTTP server on localhost that answers with the next status in `statuses`."""

    statuses: list[int]
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(statuses=[500, 204])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(
                state.statuses.pop(0) if len(state.statuses) > 1 else state.statuses[0]
            )
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()


def _verify_by_hand(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The Standard Webhooks check, written from the specification (not the library)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(sig.split(",", 1)[1], expected)
        for sig in headers["webhook-signature"].split(" ")
        if sig.startswith("v1,")
    )


async def test_webhooks_are_signed_retried_and_logged(live: Live, receiver: Receiver) -> None:
    registered = await post(
        live.client,
        live.provider,
        "/webhook-endpoints",
        {"url": receiver.url, "events": ["referral.created", "referral.status_changed"]},
    )
    secret = registered["secret"]
    referral = await live.referral()
    async with delivery.client() as client:
        first = await delivery.deliver_due(live.sessions, client)
        assert (first.sent, first.failed) == (0, 1)  # the receiver answered 500
        assert (await delivery.deliver_due(live.sessions, client)).failed == 0  # not due yet
        async with live.sessions() as session, session.begin():
            await session.execute(text("UPDATE webhook_messages SET available_at = now()"))
        second = await delivery.deliver_due(live.sessions, client)
        assert (second.sent, second.failed) == (1, 0)

    assert len(receiver.received) == 2
    headers, body = receiver.received[-1]
    assert _verify_by_hand(secret, headers, body)
    payload = Webhook(secret).verify(body, headers)
    assert payload["type"] == "referral.created"
    assert payload["data"]["referral_id"] == referral["id"]
    assert headers["webhook-id"] == receiver.received[0][0]["webhook-id"]  # same message
    assert b"Marisol" not in body and b"Quintanilla" not in body
    assert not _verify_by_hand(new_secret(), headers, body)

    log = await live.client.get(
        f"/webhook-endpoints/{registered['id']}/messages", headers=live.provider.headers
    )
    message = log.json()["contents"][0]
    assert message["delivered_at"] is not None and message["attempts"] == 2
    assert [a["status_code"] for a in message["log"]] == [500, 204]


async def test_revocation_notifies_the_school(live: Live, receiver: Receiver) -> None:
    receiver.statuses = [204]
    await post(
        live.client,
        live.school,
        "/webhook-endpoints",
        {"url": receiver.url, "events": ["consent.revoked", "referral.status_changed"]},
    )
    referral = await live.referral()
    consents = (
        await live.client.get(
            f"/students/{live.student['id']}/consents", headers=live.school.headers
        )
    ).json()
    await post(live.client, live.school, f"/consents/{consents['contents'][0]['id']}/revoke", {})
    async with delivery.client() as client:
        await delivery.deliver_due(live.sessions, client)
    types = sorted(json.loads(body)["type"] for _, body in receiver.received)
    assert types == ["consent.revoked", "referral.status_changed"]
    changed = next(json.loads(b) for _, b in receiver.received if b"status_changed" in b)
    assert changed["data"]["referral_id"] == referral["id"]
    assert changed["data"]["status"] == "cancelled"
    assert changed["data"]["status_reason"] == "consent_revoked"


async def test_the_worker_expires_unanswered_referrals(live: Live, settings: Settings) -> None:
    from service import worker

    referral = await live.referral()
    async with live.sessions() as session, session.begin():
        await session.execute(text("UPDATE referrals SET sent_at = now() - interval '31 days'"))
    _, _, housekept = await worker.run_once(live.sessions, None)
    assert housekept.expired_referrals == 1
    seen = (
        await live.client.get(f"/referrals/{referral['id']}", headers=live.school.headers)
    ).json()
    assert (seen["status"], seen["status_reason"]) == ("expired", "no_response")
    assert seen["timeline"][-1]["side"] == "system"


async def test_the_worker_ends_referrals_under_an_expired_consent(
    live: Live, settings: Settings
) -> None:
    from service import worker
    from service.local_time import today

    referral = await live.referral()
    async with live.sessions() as session, session.begin():
        await session.execute(
            text("UPDATE consents SET signed_on = :signed, expires_on = :last"),
            {"signed": today() - timedelta(days=90), "last": today() - timedelta(days=1)},
        )
    _, _, housekept = await worker.run_once(live.sessions, None)
    assert housekept.lapsed_consents == 1
    seen = (
        await live.client.get(f"/referrals/{referral['id']}", headers=live.school.headers)
    ).json()
    assert (seen["status"], seen["status_reason"]) == ("cancelled", "consent_expired")
    _, _, again = await worker.run_once(live.sessions, None)
    assert again.lapsed_consents == 0
