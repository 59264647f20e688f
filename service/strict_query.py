"""Refuse query parameters an operation does not document, and NUL in any query value.

A misspelt filter (`?catgory=...`) would otherwise be ignored and return an
unfiltered list that looks right; a 422 naming the parameter is kinder.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from fastapi import Request
from starlette.routing import compile_path

from service.errors import FieldError, Unprocessable


@cache
def _compile(template: str) -> re.Pattern[str]:
    return compile_path(template)[0]


def _documented_query(document: dict[str, Any], method: str, path: str) -> set[str] | None:
    for template, item in document["paths"].items():
        operation = item.get(method)
        if operation is not None and _compile(template).match(path):
            return {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
    return None


def _reject_nul(request: Request) -> None:
    """No query value may hold NUL: PostgreSQL text cannot, and a search would answer 500."""
    bad = sorted({k for k, v in request.query_params.multi_items() if "\x00" in k + v})
    if bad:
        raise Unprocessable(
            "Query parameters may not contain NUL (U+0000).",
            code="validation_error",
            errors=[
                FieldError(loc=["query", k], msg="contains NUL", type="string_pattern_mismatch")
                for k in bad
            ],
        )


def _known(request: Request) -> set[str] | None:
    """The operation's documented query parameters, looked up once per route (the path
    template of the route that matched), not once per request."""
    route = request.scope.get("route")
    template = getattr(route, "path", None)
    method = request.method.lower()
    if template is None:
        return _documented_query(request.app.openapi(), method, request.url.path)
    state = request.app.state
    cache: dict[tuple[str, str], set[str] | None] | None = getattr(state, "query_names", None)
    if cache is None:
        cache = state.query_names = {}
    key = (method, template)
    if key not in cache:
        document = request.app.openapi()
        item = document["paths"].get(template, {}).get(method)
        if item is None:
            known = _documented_query(document, method, request.url.path)
        else:
            known = {p["name"] for p in item.get("parameters", []) if p["in"] == "query"}
        cache[key] = known
    return cache[key]


async def reject_unknown_query(request: Request) -> None:
    if not request.query_params:
        return
    _reject_nul(request)
    known = _known(request)
    if known is None:
        return
    unknown = sorted({k for k in request.query_params if k not in known})
    if unknown:
        raise Unprocessable(
            f"Unknown query parameters: {', '.join(unknown) or '(empty name)'}.",
            code="unknown_query_parameter",
            errors=[
                FieldError(
                    loc=["query", k],
                    msg="not a parameter of this operation",
                    type="extra_forbidden",
                )
                for k in unknown
            ],
        )
