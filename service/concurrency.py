"""ETag / If-Match (RFC 9110) over a row's integer version."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Response

from service.errors import PreconditionFailed

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=200,
        description="The ETag you read; the write fails with 412 if the resource changed since.",
    ),
]


def etag(version: int) -> str:
    return f'"{version}"'


def etag_header(version: int) -> dict[str, str]:
    """The ETag header of a response built by hand."""
    return {"ETag": etag(version)}


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


def check_if_match(if_match: str | None, version: int) -> None:
    """Refuse a write based on a stale read. No header means no check (last write wins)."""
    if if_match is None:
        return
    candidates = {tag.strip().removeprefix("W/") for tag in if_match.split(",")}
    if "*" in candidates or etag(version) in candidates:
        return
    raise PreconditionFailed(
        f"The resource changed since you read it (its ETag is now {etag(version)}); "
        "read it again and retry.",
        code="stale_etag",
    )
