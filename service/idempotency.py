"""Idempotency-Key on POSTs that create: a retried request gets the first one's response.

The key is claimed by inserting a row in the request's own transaction. A concurrent
request with the same key blocks on that insert (PostgreSQL waits for the first
transaction on the unique key), then reads the committed response and replays it. If the
first request failed, its claim rolled back with everything else, and the retry runs anew.
A write that knows its answer before it writes (a new referral) claims the key with the
answer in its own statement instead (`claimed`): the key, its answer and the write
commit together, without a transaction around them.

Same key, same body: the stored response. Same key, another body: 422.
Keys belong to the API key that sent them, and are forgotten after `RETENTION`.

A response may hold personal data (a new student's name), so it is stored sealed with the
PII keyring, and the request is remembered by a keyed hash, not a plain one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any

import orjson
from fastapi import Header
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy import (
    ColumnElement,
    DateTime,
    Insert,
    Integer,
    LargeBinary,
    String,
    Update,
    Uuid,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from service.auth.principal import Principal
from service.db import Base, utcnow
from service.errors import Conflict, Unprocessable
from service.reader import Compiled, Reader, compile_statement, param
from service.sealing.keyring import Keyring, keyring

RETENTION = timedelta(hours=24)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Any unique string (a UUID is best). Retrying with the same key and body "
        "returns the first response instead of creating again; the same key with another "
        "body is refused (422). Keys are kept for 24 hours.",
    ),
]


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"

    api_key_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    operation: Mapped[str] = mapped_column(String(100))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[bytes | None] = mapped_column(LargeBinary, comment="Sealed JSON body")
    key_id: Mapped[str | None] = mapped_column(String(32), comment="Key that sealed response")
    headers: Mapped[dict[str, str] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


def request_hashes(
    ring: Keyring, operation: str, scope: dict[str, Any], body: BaseModel
) -> list[str]:
    """The request's keyed hash under every key, the active one first."""
    canonical = json.dumps(
        {"operation": operation, "scope": scope, "body": body.model_dump(mode="json")},
        sort_keys=True,
        separators=(",", ":"),
    )
    return [d.hex() for d in ring.digests(canonical.encode())]


def _context(api_key_id: uuid.UUID, key: str) -> bytes:
    return b"idempotency_keys.response:" + api_key_id.bytes + key.encode()


def stored_response(
    ring: Keyring, api_key_id: uuid.UUID, key: str, key_id: str, sealed: bytes
) -> Any:
    """The JSON body a record keeps for replay, opened."""
    return json.loads(ring.open(key_id, sealed, _context(api_key_id, key)))


Answer = tuple[int, BaseModel, dict[str, str]]  # status, body, headers


class Claim:
    """A request's hold on its Idempotency-Key. Most operations claim the key first, in
    their transaction, then do their work and store its answer (`idempotent`). A write
    that knows its answer before it writes claims the key with that answer in its own
    statement instead, no transaction around it (`claimed`, joined by
    referrals/writes.py): `answer` gives the values."""

    def __init__(
        self,
        ring: Keyring,
        owner: uuid.UUID,
        key: str,
        operation: str,
        digests: Sequence[str],
    ) -> None:
        self.ring, self.owner, self.key = ring, owner, key
        self.operation = operation
        self.digests = digests  # the request's keyed hash under every key, the active first
        self.answered: tuple[Answer, Response] | None = None

    def answer(self, status: int, model: BaseModel, headers: dict[str, str]) -> dict[str, Any]:
        """The run-time values of `stored()` and `claimed()` for this answer, which the
        request then gives (the stored body and the response's are one serialization)."""
        response, body_json = _response(status, model, headers)
        key_id, sealed = self.ring.seal(body_json, _context(self.owner, self.key))
        self.answered = ((status, model, headers), response)
        return {
            "k_owner": self.owner,
            "k_key": self.key,
            "k_operation": self.operation,
            "k_request_hash": self.digests[0],
            "k_stale": utcnow() - RETENTION,
            "k_status_code": status,
            "k_key_id": key_id,
            "k_response": sealed,
            "k_headers": orjson.dumps(headers).decode(),
        }


def claim_for(
    principal: Principal,
    key: str | None,
    operation: str,
    body: BaseModel,
    scope: dict[str, Any] | None = None,
) -> Claim | None:
    """The claim a request with this Idempotency-Key makes (None without one, or for a
    caller who owns no keys)."""
    owner = owner_of(principal)
    if key is None or owner is None:
        return None
    ring = keyring()
    return Claim(ring, owner, key, operation, request_hashes(ring, operation, scope or {}, body))


# The work for a request: given the claim (None when no key was sent).
Produce = Callable[[Claim | None], Awaitable[Answer]]


PEOPLE = uuid.UUID("6f1d7a52-2a3e-5c43-9a51-6b7d1c0e9f10")  # the namespace of owner_of


def owner_of(principal: Principal) -> uuid.UUID | None:
    """Whose Idempotency-Keys these are: the API key's, or a signed-in person's (a UUID
    derived from the token's issuer and subject, so the same person on any device)."""
    if principal.key_id is not None:
        return principal.key_id
    return uuid.uuid5(PEOPLE, principal.subject) if principal.subject else None


async def idempotent(
    session: AsyncSession,
    principal: Principal,
    key: str | None,
    operation: str,
    body: BaseModel,
    produce: Produce,
    scope: dict[str, Any] | None = None,
) -> Response:
    """Run `produce` once per (caller, Idempotency-Key); replay its response after that.

    `scope` holds what besides the body identifies the request (path parameters).
    """
    claim = claim_for(principal, key, operation, body, scope)
    if claim is None:
        return respond(await produce(None))
    reader = Reader(session=session)
    claimed = await reader.fetchrow(
        _CLAIM,
        owner=claim.owner,
        key=claim.key,
        operation=operation,
        request_hash=claim.digests[0],
        stale=utcnow() - RETENTION,
    )
    if claimed is None:
        replayed = await replay(reader, claim)
        if replayed is None:  # claimed and released by a request that failed meanwhile
            raise Conflict(
                "This Idempotency-Key was just used by a request that did not finish; retry.",
                code="idempotency_key_in_use",
            )
        return replayed
    answer = await produce(claim)
    await reader.fetch(_STORE, **claim.answer(*answer))
    assert claim.answered is not None
    return claim.answered[1]


def _claim() -> Compiled:
    """Claim the key in one statement; a key older than RETENTION (`stale`) is free
    again (claimed anew), even before the worker deletes it. Returns a row when claimed."""
    table = IdempotencyRecord.__table__.c
    claim = insert(IdempotencyRecord).values(
        api_key_id=param("owner", Uuid),
        key=param("key", String),
        operation=param("operation", String),
        request_hash=param("request_hash", String),
    )
    return compile_statement(
        claim.on_conflict_do_update(
            index_elements=[table.api_key_id, table.key],
            set_={
                "operation": claim.excluded.operation,
                "request_hash": claim.excluded.request_hash,
                "status_code": None,
                "response": None,
                "key_id": None,
                "headers": None,
                "created_at": func.now(),
            },
            where=table.created_at < param("stale", DateTime(timezone=True)),
        ).returning(table.key)
    )


def _the_key(owner: str, key: str) -> list[ColumnElement[bool]]:
    """The record of one caller's key (parameters named `owner` and `key`)."""
    table = IdempotencyRecord.__table__.c
    return [table.api_key_id == param(owner, Uuid), table.key == param(key, String)]


def stored() -> Update:
    """Keep the answer of the request that claimed the key (values from
    `Claim.answer`)."""
    return update(IdempotencyRecord).where(*_the_key("k_owner", "k_key")).values(**_answer_params())


def _answer_params() -> dict[str, Any]:
    return {
        "status_code": param("k_status_code", Integer),
        "key_id": param("k_key_id", String),
        "response": param("k_response", LargeBinary),
        "headers": param("k_headers", JSONB),  # JSON text: the driver's codec is not used
    }


def _stale() -> Any:
    return param("k_stale", DateTime(timezone=True))


def held() -> ColumnElement[bool]:
    """Whether the key is held: claimed less than RETENTION ago (values `k_...` of
    `Claim.answer`), in the statement's snapshot."""
    table = IdempotencyRecord.__table__.c
    return (
        select(table.key)
        .where(*_the_key("k_owner", "k_key"), table.created_at >= _stale())
        .exists()
    )


def claimed(when: ColumnElement[bool]) -> Insert:
    """Claim the key with its answer, if `when` holds (the write that makes the answer
    was made): for a write that knows its answer before it writes, joined to its
    statement (referrals/writes.py), so that the key, its answer and the write commit
    together or not at all. A key older than RETENTION is claimed anew; a held one is
    not (RETURNING nothing): that write must then not stand either."""
    table = IdempotencyRecord.__table__.c
    values = {
        "api_key_id": param("k_owner", Uuid),
        "key": param("k_key", String),
        "operation": param("k_operation", String),
        "request_hash": param("k_request_hash", String),
        **_answer_params(),
    }
    claim = insert(IdempotencyRecord).from_select(
        list(values), select(*values.values()).where(when)
    )
    return claim.on_conflict_do_update(
        index_elements=[table.api_key_id, table.key],
        set_={
            **{name: claim.excluded[name] for name in values if name not in ("api_key_id", "key")},
            "created_at": func.now(),
        },
        where=table.created_at < _stale(),
    ).returning(table.key)


# Compiled once and run on the session's connection (service/reader.py): through the ORM
# the claim and the store cost about 1.5 ms of Python a request.
_CLAIM = _claim()
_STORE = compile_statement(stored())
_RECORD = compile_statement(
    select(
        IdempotencyRecord.request_hash,
        IdempotencyRecord.status_code,
        IdempotencyRecord.key_id,
        IdempotencyRecord.response,
        IdempotencyRecord.headers,
    ).where(
        *_the_key("owner", "key"),
        IdempotencyRecord.created_at >= param("stale", DateTime(timezone=True)),
    )
)


async def replay(reader: Reader, claim: Claim) -> JSONResponse | None:
    """The answer an earlier request with the claim's key stored, to send again; None
    when no request holds the key (none, or one older than RETENTION). 422 when that
    request had another body, 409 while it is still in progress."""
    record = await reader.fetchrow(
        _RECORD, owner=claim.owner, key=claim.key, stale=utcnow() - RETENTION
    )
    if record is None:
        return None
    if record["request_hash"] not in claim.digests:
        raise Unprocessable(
            "This Idempotency-Key was already used with a different request; "
            "use a new key for a new request.",
            code="idempotency_key_reused",
        )
    if record["status_code"] is None or record["response"] is None or record["key_id"] is None:
        raise Conflict(
            "A request with this Idempotency-Key is in progress; retry.",
            code="idempotency_key_in_use",
        )
    stored_headers = record["headers"]
    if isinstance(stored_headers, str | bytes):  # a session's connection gives JSON text
        stored_headers = orjson.loads(stored_headers)
    headers = {**(stored_headers or {}), "Idempotent-Replayed": "true"}
    body = stored_response(claim.ring, claim.owner, claim.key, record["key_id"], record["response"])
    return JSONResponse(body, status_code=record["status_code"], headers=headers)


def respond(answer: Answer) -> Response:
    """The response of an answer given without a key."""
    return _response(*answer)[0]


def _response(status: int, model: BaseModel, headers: dict[str, str]) -> tuple[Response, bytes]:
    """The response, and its JSON (serialized once, by pydantic: it is also what a key
    stores for replay)."""
    body = model.model_dump_json().encode()
    return Response(body, status_code=status, headers=headers, media_type="application/json"), body


async def forget_expired(session: AsyncSession) -> int:
    """Delete keys older than RETENTION (the worker calls this)."""
    result = await session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < utcnow() - RETENTION)
    )
    return int(getattr(result, "rowcount", 0) or 0)
