"""RFC 9457 problem details: one exception family and one handler for every error."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://youthlink.example.org/problems/"


class FieldError(BaseModel):
    """One problem with one input field."""

    loc: list[str | int] = Field(description="Where the problem is: body/query/path/header + path")
    msg: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details, plus a stable machine-readable `code`."""

    type: str
    title: str
    status: int
    detail: str | None = None
    code: str
    instance: str | None = None
    errors: list[FieldError] | None = None
    next_statuses: list[str] | None = Field(
        default=None,
        description="A refused referral transition (409, 403): the moves you may make now",
    )


class AppError(Exception):
    """Base of every error the service raises on purpose."""

    status: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        status: int | None = None,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra or {}


class NotFound(AppError):
    status = 404
    code = "not_found"


class Forbidden(AppError):
    status = 403
    code = "forbidden"


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"


class Conflict(AppError):
    status = 409
    code = "conflict"


class PreconditionFailed(AppError):
    status = 412
    code = "precondition_failed"


class Unavailable(AppError):
    """The database refused for now (timeout, restart, lost connection, every pooled
    connection busy): retry shortly."""

    status = 503
    code = "database_unavailable"

    def __init__(self, code: str, detail: str, *, retry_after_s: int = 5) -> None:
        super().__init__(detail, code=code, headers={"Retry-After": str(retry_after_s)})


class Unprocessable(AppError):
    status = 422
    code = "validation_error"


def problem_response(
    status: int,
    code: str,
    detail: str | None,
    *,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
    instance: str | None = None,
) -> JSONResponse:
    title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body = Problem(
        type=PROBLEM_BASE + code,
        title=title,
        status=status,
        detail=detail,
        code=code,
        instance=instance,
        errors=errors,
    ).model_dump(exclude_none=True)
    body.update(extra or {})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_errors(exc: RequestValidationError) -> list[FieldError]:
    out = []
    for err in exc.errors():
        loc = [p if isinstance(p, int) else str(p) for p in err.get("loc", ())]
        out.append(FieldError(loc=loc, msg=str(err.get("msg", "")), type=str(err.get("type", ""))))
    return out


def _allowed_methods(request: Request) -> list[str]:
    """The methods the app serves at the request's path (for 405's Allow), asked of the
    router itself, so typed path parameters ({id:uuid}) are honoured."""
    allowed = []
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.routes):
            allowed.append(method)
    return allowed


def install_error_handlers(app: FastAPI) -> None:
    async def app_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AppError)
        return problem_response(
            exc.status,
            exc.code,
            exc.detail,
            errors=exc.errors,
            headers=exc.headers,
            extra=exc.extra,
            instance=request.url.path,
        )

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return problem_response(
            422,
            "validation_error",
            "The request is not valid; see errors[] for each field.",
            errors=_field_errors(exc),
            instance=request.url.path,
        )

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {400: "malformed_request", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error"
        )
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return problem_response(
            exc.status_code,
            code,
            str(exc.detail),
            headers=headers,
            instance=request.url.path,
        )

    async def database_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DBAPIError)
        reason = database_refusal(exc)
        if reason is None:
            raise exc  # a bug: let it be a 500, loudly
        code, detail = reason
        return problem_response(
            503, code, detail, headers={"Retry-After": "5"}, instance=request.url.path
        )

    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        # Starlette calls this outermost and re-raises, so the bug is still logged in full;
        # the client gets the declared problem shape and the id to quote, never the cause.
        ident = getattr(request.state, "request_id", None)
        return problem_response(
            500,
            "internal_error",
            "Something went wrong on our side; it is logged. Quote request_id when you report it.",
            headers={"X-Request-ID": ident} if ident else None,
            extra={"request_id": ident} if ident else None,
            instance=request.url.path,
        )

    async def pool_timeout(request: Request, exc: Exception) -> JSONResponse:
        # Every pooled connection stayed busy past db_pool_timeout_s: overload, not a bug.
        return problem_response(503, *BUSY, headers={"Retry-After": "1"}, instance=request.url.path)

    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(DBAPIError, database_error)
    app.add_exception_handler(PoolTimeout, pool_timeout)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, internal_error)


# Statuses any operation can answer (see problem_responses). 429, 500 and 503 are added
# to the document per operation by service/openapi_doc.py.
ALWAYS = (400, 413, 414, 422)
PROBLEM_SCHEMA = {"$ref": "#/components/schemas/Problem"}


BUSY = ("database_busy", "The service is at capacity right now; retry in a moment.")

# SQLSTATEs that mean "not now" rather than "wrong": a statement timeout, the server
# shutting down or restarting, too many connections.
_BUSY = {
    "57014": "query_timeout",
    "57P01": "database_unavailable",
    "57P02": "database_unavailable",
    "57P03": "database_unavailable",
    "53300": "database_unavailable",
}


def database_refusal(exc: DBAPIError) -> tuple[str, str] | None:
    """(code, detail) when the database refused for now (timeout, restart, overload, lost
    connection): a 503 to retry, not a bug. None for anything else."""
    return database_refusal_of(exc.orig, lost=exc.connection_invalidated)


def database_refusal_of(error: BaseException | None, *, lost: bool) -> tuple[str, str] | None:
    """database_refusal for a driver's own error (service/reader.py runs asyncpg directly);
    `lost`: the connection is known to be gone."""
    state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    if state == "57014":
        return "query_timeout", "The database took too long to answer; narrow the request or retry."
    if state in _BUSY or lost or _network_failure(error):
        return "database_unavailable", "The database is not reachable right now; retry shortly."
    return None


def _network_failure(error: BaseException | None) -> bool:
    """The error, or what caused it, is a socket error (refused, reset, timed out)."""
    while error is not None:
        if isinstance(error, OSError):
            return True
        error = error.__cause__
    return False


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting problem+json for the given statuses.

    400 (a body that is not JSON at all), 413 (a body over the limit), 414 (a query
    string over the limit) and 422 (a parameter that does not validate) can answer any
    operation, so they are always listed. Only application/problem+json is declared: it
    is the only error media type the server sends.
    """
    return {
        s: {
            "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}},
            "description": HTTPStatus(s).phrase,
        }
        for s in sorted({*ALWAYS, *statuses})
    }
