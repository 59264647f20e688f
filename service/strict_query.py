"""Refuse query parameters an operation does not document.

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


async def reject_unknown_query(request: Request) -> None:
    if not request.query_params:
        return
    known = _documented_query(request.app.openapi(), request.method.lower(), request.url.path)
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
