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

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.auth.principal import Principal, bearer, get_principal
from service.db import get_reader
from service.strict_query import reject_unknown_query

Endpoint = Callable[[Request], Awaitable[Response]]
_UUID: TypeAdapter[uuid.UUID] = TypeAdapter(uuid.UUID)


def route(path: str, endpoint: Endpoint, name: str, matched: str | None = None) -> Route:
    """A GET-only plain route (Starlette would add HEAD; the documented operation has
    none) that records itself as the request's route, for the latency metric and the
    query check, as FastAPI's routes do. `matched` narrows what it serves (e.g.
    `{referral_id:uuid}`, so that /referrals/inbox and a malformed id go on to FastAPI's
    routes); `path` stays the documented template the route is known by."""

    async def serve(request: Request) -> Response:
        request.scope["route"] = served
        return await endpoint(request)

    served = Route(matched or path, serve, methods=["GET"], name=name)
    served.methods = {"GET"}
    served.path = path  # the template: metrics and the query check look it up
    return served


@asynccontextmanager
async def unit_of_work(request: Request) -> AsyncIterator[AsyncSession]:
    """A session, committed when the block ends and rolled back if it raises: what the
    session dependency (service/db.py get_session) gives a FastAPI route."""
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with maker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


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
