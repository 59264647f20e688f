"""Abuse limits before any work is done: query length, body size, request rates.

Rates use the `limits` library (moving window) per API key, or per client IP for
anonymous callers, in two budgets: searches (GET /search/..., /hsds/...) and writes
(POST, PUT, PATCH, DELETE). Counts live in YOUTHLINK_RATE_LIMIT_STORAGE: memory (each
process counts alone) or Redis (every process shares one count).

Every response to a request a budget covers carries `RateLimit-Limit`,
`RateLimit-Remaining` and `RateLimit-Reset` (seconds until the window frees a request;
draft-ietf-httpapi-ratelimit-headers); a refusal is a 429 with `Retry-After`.
`budget()` is the one rule: the OpenAPI document declares these headers and the 429 on
exactly the operations it names (service/openapi_doc.py).
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse, storage
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.auth import keys
from service.errors import problem_response
from service.settings import Settings

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
SEARCH_PREFIXES = ("/search/", "/hsds/")
RATE_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")


def budget(method: str, path: str) -> str | None:
    """The rate budget a request counts against ("writes", "searches"), or None."""
    if method in WRITES:
        return "writes"
    if method == "GET" and path.startswith(SEARCH_PREFIXES):
        return "searches"
    return None


class Guard:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.limiter = (
            MovingWindowRateLimiter(storage.storage_from_string(settings.rate_limit_storage))
            if settings.rate_limits_enabled
            else None
        )
        self.search: RateLimitItem = parse(settings.rate_limit_search)
        self.writes: RateLimitItem = parse(settings.rate_limit_writes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if len(scope.get("query_string", b"")) > self.settings.max_query_bytes:
            limit = self.settings.max_query_bytes
            response = problem_response(
                414, "uri_too_long", f"The query string is over {limit} bytes."
            )
            await response(scope, receive, send)
            return
        limit = (
            self.settings.max_import_bytes
            if scope["path"] == "/hsds/import"
            else self.settings.max_body_bytes
        )
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = problem_response(413, "body_too_large", f"The body is over {limit:,} bytes.")
            await response(scope, receive, send)
            return
        rate: list[tuple[bytes, bytes]] = []
        if self.limiter is not None:
            refusal, rate = await self._rate(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if rate:
                    message = {**message, "headers": [*message.get("headers", []), *rate]}
            await send(message)

        try:
            await self.app(scope, _capped(receive, limit), watched)
        except _TooLarge:
            if started:
                raise
            response = problem_response(413, "body_too_large", f"The body is over {limit:,} bytes.")
            await response(scope, receive, send)

    async def _rate(self, scope: Scope) -> tuple[JSONResponse | None, list[tuple[bytes, bytes]]]:
        """(a 429 to send instead, or None; the RateLimit headers of the response)."""
        name = budget(scope["method"], scope["path"])
        if name is None:
            return None, []
        item = self.writes if name == "writes" else self.search
        who = _caller(scope)
        assert self.limiter is not None
        allowed = await self.limiter.hit(item, name, who)
        stats = await self.limiter.get_window_stats(item, name, who)
        wait = max(1, math.ceil(stats.reset_time - time.time()))
        values = (item.amount, stats.remaining, wait)
        headers = {header: str(value) for header, value in zip(RATE_HEADERS, values, strict=True)}
        if allowed:
            return None, [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        refusal = problem_response(
            429,
            "rate_limited",
            f"Too many {name}: at most {item} for each key (or address). Retry in {wait} s.",
            headers={"Retry-After": str(wait), **headers},
        )
        return refusal, []


def _caller(scope: Scope) -> str:
    """The API key's public prefix when one is sent, else the client address."""
    auth = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
    if auth.lower().startswith("bearer "):
        parsed = keys.split_token(auth[7:].strip())
        if parsed is not None:
            return f"key:{parsed[0]}"
    client = scope.get("client") or ("unknown", 0)
    return f"ip:{client[0]}"


class _TooLarge(BaseException):
    """Raised from `receive` when a body without Content-Length passes the limit. A
    BaseException, so that body parsing (which turns errors into 400) lets it through to
    the guard, which answers 413."""


def _capped(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def read() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge
        return message

    return read
