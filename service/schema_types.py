"""Constrained scalar types shared by every API schema.

Every string an API accepts is bounded and refuses what PostgreSQL cannot store
(NUL characters, lone surrogates), so bad input is a 422, never a database error.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    HttpUrl,
    PlainSerializer,
    Strict,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)
from pydantic import BaseModel as _BaseModel


def _storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode text") from exc
    return value


def _iso_text(value: Any) -> Any:
    if isinstance(value, int | float | bool):
        raise ValueError("give an ISO 8601 string")
    return value


# Input scalars are strict: JSON `0` is not `false`, `"3"` is not 3, a number is not a date.
Flag = Annotated[bool, Strict()]
Int = Annotated[int, Strict()]
Num = Annotated[float, Strict()]


def _finite(value: date) -> date:
    """asyncpg stores the first and last dates Python has (0001-01-01, 9999-12-31) as
    PostgreSQL's -infinity and infinity, which PostgreSQL then writes as those words."""
    if value in (date.min, date.max):
        raise ValueError("give a date after 0001-01-01 and before 9999-12-31")
    return value


Day = Annotated[date, BeforeValidator(_iso_text), AfterValidator(_finite)]


def _iso_date_text(value: Any) -> Any:
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("give a date as YYYY-MM-DD")
    return _iso_text(value)


# A date in a query string: only YYYY-MM-DD (pydantic would read "0" as 1970-01-01).
QueryDay = Annotated[date, BeforeValidator(_iso_date_text)]

_RFC3339 = r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})"


def _rfc3339_text(value: Any) -> Any:
    if isinstance(value, str) and not re.fullmatch(_RFC3339, value):
        raise ValueError("give a date-time in RFC 3339, e.g. 2026-01-31T09:00:00Z")
    return _iso_text(value)


# An instant in a query string: RFC 3339 with its offset (pydantic would read "0.5" as a
# Unix time).
QueryInstant = Annotated[datetime, BeforeValidator(_rfc3339_text)]

LOCAL_TIME_SCHEMA = {
    "type": "string",
    "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$",
    "maxLength": 8,
    "description": "Local wall-clock time, HH:MM, in the service's time zone (no offset)",
    "examples": ["15:30"],
}
ClockTime = Annotated[time, BeforeValidator(_iso_text), WithJsonSchema(LOCAL_TIME_SCHEMA)]
LocalTimeOut = Annotated[
    time,
    PlainSerializer(lambda t: t.strftime("%H:%M:%S" if t.second else "%H:%M"), return_type=str),
    WithJsonSchema(LOCAL_TIME_SCHEMA),
]
# PostgreSQL cannot store NUL; saying so in the schema keeps clients and fuzzers honest.
NO_NUL = r"^[^\x00]*$"

Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=300, pattern=NO_NUL),
    AfterValidator(_storable),
]
ShortText = Annotated[
    str, StringConstraints(max_length=300, pattern=NO_NUL), AfterValidator(_storable)
]
LongText = Annotated[
    str, StringConstraints(max_length=10_000, pattern=NO_NUL), AfterValidator(_storable)
]
Phone = Annotated[str, StringConstraints(max_length=40, pattern=r"^[0-9+()\-. x]{3,40}$")]
_HTTP_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)


def _web_url(value: str) -> str:
    """An http(s) URL both parsers accept: pydantic's WHATWG parser (the url crate), and
    urllib's, which the webhook worker and the link checks read the host and port with.
    The text is kept as given, not normalized."""
    try:
        _HTTP_URL.validate_python(value)
    except ValidationError as exc:
        why = exc.errors()[0]["msg"].removeprefix("Input should be a valid URL, ")
        raise ValueError(f"is not a valid URL: {why}") from None
    try:
        parts = urlsplit(value)
        host, _ = parts.hostname, parts.port  # both raise ValueError on a malformed netloc
    except ValueError as exc:
        raise ValueError(f"is not a valid URL: {exc}") from None
    if not host:
        raise ValueError("is not a valid URL: it names no host")
    return value


UrlText = Annotated[
    str,
    StringConstraints(max_length=2000, pattern=r"^https?://[^\s\x00]+$"),
    AfterValidator(_storable),
    AfterValidator(_web_url),
]


class Schema(_BaseModel):
    """Base of API input schemas: unknown fields are refused, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class OutSchema(_BaseModel):
    """Base of API output schemas: read straight from ORM rows."""

    model_config = ConfigDict(from_attributes=True)
