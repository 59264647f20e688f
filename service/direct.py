"""The busiest reads served by plain Starlette routes, in front of FastAPI's.

FastAPI solves an operation's dependencies on every request (the caller, the reads
pool, the app-wide query check, each parameter), with exit stacks around them: on a
read that PostgreSQL or the search index answers in a fraction of a millisecond, that
was most of the time (a misspelt-word search on one worker: 596-712 requests/s through
FastAPI, 1,025-1,054 without). A plain route placed first serves such an operation:
`caller()` does what the app-wide query check and the principal dependency do, in the
same order, and the handler checks its own path values as FastAPI would (a 422 with the
same `loc`). Errors go through the app's handlers as before. FastAPI still documents
each operation from its own route, which the plain one shadows;
tests/test_direct_routes.py checks that both answer alike.
"""

from __future__ import annotations

import email.message
import json
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any, TypeVar

from fastapi.exceptions import HTTPException, RequestValidationError
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service import db
from service.auth.principal import Principal, bearer, get_principal
from service.db import get_reader
from service.strict_query import reject_unknown_query

Endpoint = Callable[[Request], Awaitable[Response]]
M = TypeVar("M")
_UUID: TypeAdapter[uuid.UUID] = TypeAdapter(uuid.UUID)


def route(
    path: str, endpoint: Endpoint, name: str, matched: str | None = None, method: str = "GET"
) -> Route:
    """A plain route of one method (Starlette would add HEAD to a GET; the documented
    operation has none) that records itself as the request's route, for the latency
    metric and the query check, as FastAPI's routes do. `matched` narrows what it serves
    (e.g. `{referral_id:uuid}`, so that /referrals/inbox and a malformed id go on to
    FastAPI's routes); `path` stays the documented template the route is known by."""

    async def serve(request: Request) -> Response:
        request.scope["route"] = served
        return await endpoint(request)

    served = Route(matched or path, serve, methods=[method], name=name)
    served.methods = {method}
    served.path = path  # the template: metrics and the query check look it up
    return served


def unit_of_work(request: Request) -> AbstractAsyncContextManager[AsyncSession]:
    """What the session dependency (service/db.py get_session) gives a FastAPI route: a
    session committed when the block ends, rolled back if it raises."""
    return db.unit_of_work(request.app.state.sessionmaker)


async def caller(request: Request) -> Principal:
    """Unknown query parameters are a 422; a key or token that is sent must be valid
    (401); none is the anonymous caller."""
    await reject_unknown_query(request)
    return await get_principal(request, await get_reader(request), await bearer(request))


def path_uuid(request: Request, name: str) -> uuid.UUID:
    """A UUID path parameter, refused as FastAPI refuses it."""
    try:
        return _UUID.validate_python(request.path_params[name])
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("path", name, *e["loc"])} for e in exc.errors()]
        ) from None


# ---------------------------------------------------------------- a write's request
# What FastAPI does with a JSON body and header parameters, for the plain write routes:
# the body is read (and a malformed JSON body refused) before anything else; header and
# body errors are collected and refused together, after the caller is known.

_NO_BODY = object()


async def json_body(request: Request) -> Any:
    """The body as FastAPI reads one for a JSON model: parsed when the content type is
    JSON, the raw bytes otherwise (which the model then refuses), none when empty."""
    raw = await request.body()
    if not raw:
        return _NO_BODY
    kind = request.headers.get("content-type")
    if not kind:
        return raw
    message = email.message.Message()
    message["content-type"] = kind
    subtype = message.get_content_subtype()
    if message.get_content_maintype() != "application" or not (
        subtype == "json" or subtype.endswith("+json")
    ):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", error.pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": error.msg},
                }
            ],
            body=error.doc,
        ) from None
    except ValueError:  # not UTF-8, for one
        raise HTTPException(400, "There was an error parsing the body") from None


def body_model(model: TypeAdapter[M], body: Any, errors: list[Any]) -> M | None:
    """The body validated as the operation's model; its errors (loc `body`, ...) added to
    `errors`."""
    if body is _NO_BODY:
        errors.append({"type": "missing", "loc": ("body",), "msg": "Field required", "input": None})
        return None
    try:
        return model.validate_python(body, from_attributes=True)
    except ValidationError as exc:
        errors.extend({**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False))
        return None


def header_check(parameter: Any) -> tuple[str, TypeAdapter[str]]:
    """The name and the constraints of an optional header parameter, from its declaration
    (`Annotated[str | None, Header(alias=..., max_length=...)]`): one source for both."""
    info = parameter.__metadata__[0]
    return info.alias, TypeAdapter(Annotated[str, *info.metadata])


def header(request: Request, check: tuple[str, TypeAdapter[str]], errors: list[Any]) -> str | None:
    """An optional header parameter (`header_check`) as FastAPI checks it; its errors
    (loc `header`, name) added to `errors`."""
    name, adapter = check
    value = request.headers.get(name)
    if value is None:
        return None
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        errors.extend(
            {**e, "loc": ("header", name, *e["loc"])} for e in exc.errors(include_url=False)
        )
        return None


def refuse(errors: list[Any], body: Any) -> None:
    """Refuse the request (422) if any parameter or the body was invalid."""
    if errors:
        raise RequestValidationError(errors, body=None if body is _NO_BODY else body)
