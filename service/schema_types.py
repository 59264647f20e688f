"""Constrained scalar types shared by every API schema.

Every string an API accepts is bounded and refuses what PostgreSQL cannot store
(NUL characters, lone surrogates), so bad input is a 422, never a database error.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, ConfigDict, StringConstraints
from pydantic import BaseModel as _BaseModel


def _storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode text") from exc
    return value


Name = Annotated[
    str, StringConstraints(min_length=1, max_length=300, strip_whitespace=True),
    AfterValidator(_storable),
]
ShortText = Annotated[
    str, StringConstraints(max_length=300, strip_whitespace=True), AfterValidator(_storable)
]
LongText = Annotated[
    str, StringConstraints(max_length=10_000, strip_whitespace=True), AfterValidator(_storable)
]
Phone = Annotated[
    str, StringConstraints(max_length=40, pattern=r"^[0-9+()\-. x]{3,40}$", strip_whitespace=True)
]
UrlText = Annotated[
    str,
    StringConstraints(max_length=2000, pattern=r"^https?://[^\s\x00]+$", strip_whitespace=True),
]


class Schema(_BaseModel):
    """Base of API input schemas: unknown fields are refused, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class OutSchema(_BaseModel):
    """Base of API output schemas: read straight from ORM rows."""

    model_config = ConfigDict(from_attributes=True)
