"""Idempotency-Key on POSTs that create: a retried request gets the first one's response.

The key is claimed by inserting a row in the request's own transaction. A concurrent
request with the same key blocks on that insert (PostgreSQL waits for the first
transaction on the unique key), then reads the committed response and replays it. If the
first request failed, its claim rolled back with everything else, and the retry runs anew.

Same key, same body: the stored response. Same key, another body: 422.
Keys belong to the API key that sent them, and are forgotten after `RETENTION`.

A response may hold personal data (a new student's name), so it is stored sealed with the
PII keyring, and the request is remembered by a keyed hash, not a plain one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

import orjson
from fastapi import Header
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy import (
    ColumnElement,
    DateTime,
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
    """A key this request claimed. Its answer is stored after the request's work, in a
    statement of its own, unless the work stores it with its own write (`answer`, with
    `stored` joined to that write's statement): one round trip fewer."""

    def __init__(self, ring: Keyring, owner: uuid.UUID, key: str) -> None:
        self.ring, self.owner, self.key = ring, owner, key
        self.answered: tuple[Answer, Response] | None = None

    def answer(self, status: int, model: BaseModel, headers: dict[str, str]) -> dict[str, Any]:
        """The run-time values of `stored()` for this answer, which the request then
        gives (the stored body and the response's are one serialization)."""
        response, body_json = _response(status, model, headers)
        key_id, sealed = self.ring.seal(body_json, _context(self.owner, self.key))
        self.answered = ((status, model, headers), response)
        return {
            "k_owner": self.owner,
            "k_key": self.key,
            "k_status_code": status,
            "k_key_id": key_id,
            "k_response": sealed,
            "k_headers": orjson.dumps(headers).decode(),
        }


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
    owner = owner_of(principal)
    if key is None or owner is None:
        return _response(*await produce(None))[0]
    ring = keyring()
    digests = request_hashes(ring, operation, scope or {}, body)
    reader = Reader(session=session)
    claimed = await reader.fetchrow(
        _CLAIM,
        owner=owner,
        key=key,
        operation=operation,
        request_hash=digests[0],
        stale=utcnow() - RETENTION,
    )
    if claimed is None:
        return await _replay(session, ring, owner, key, digests)
    claim = Claim(ring, owner, key)
    answer = await produce(claim)
    if claim.answered is None:  # not stored with the work's own write: store it now
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


def stored(when: ColumnElement[bool] | None = None) -> Update:
    """Keep the answer of the request that claimed the key (values from
    `Claim.answer`); with `when`, only if that holds (joined to the write that makes the
    answer, as a data-modifying WITH of its statement)."""
    table = IdempotencyRecord.__table__.c
    mine = [table.api_key_id == param("k_owner", Uuid), table.key == param("k_key", String)]
    return (
        update(IdempotencyRecord)
        .where(*mine, *([] if when is None else [when]))
        .values(
            status_code=param("k_status_code", Integer),
            key_id=param("k_key_id", String),
            response=param("k_response", LargeBinary),
            headers=param("k_headers", JSONB),  # JSON text: the driver's codec is not used
        )
    )


# Compiled once and run on the session's connection (service/reader.py): through the ORM
# the claim and the store cost about 1.5 ms of Python a request.
_CLAIM = _claim()
_STORE = compile_statement(stored())


async def _replay(
    session: AsyncSession, ring: Keyring, api_key_id: uuid.UUID, key: str, digests: list[str]
) -> JSONResponse:
    record = await session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.api_key_id == api_key_id, IdempotencyRecord.key == key
        )
    )
    if record is None:  # claimed and released by a request that failed meanwhile
        raise Conflict(
            "This Idempotency-Key was just used by a request that did not finish; retry.",
            code="idempotency_key_in_use",
        )
    if record.request_hash not in digests:
        raise Unprocessable(
            "This Idempotency-Key was already used with a different request; "
            "use a new key for a new request.",
            code="idempotency_key_reused",
        )
    if record.status_code is None or record.response is None or record.key_id is None:
        raise Conflict(
            "A request with this Idempotency-Key is in progress; retry.",
            code="idempotency_key_in_use",
        )
    headers = {**(record.headers or {}), "Idempotent-Replayed": "true"}
    body = stored_response(ring, api_key_id, key, record.key_id, record.response)
    return JSONResponse(body, status_code=record.status_code, headers=headers)


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
