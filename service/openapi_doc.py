"""The finishing pass over the OpenAPI document that FastAPI writes from the routes.

FastAPI knows each route's parameters, bodies and declared responses. What it cannot
know is written here, in one place, from the rules the code itself follows:

* the servers, tags and contact of the API;
* the errors the middleware and handlers can answer on any operation: 500 on every
  operation, 503 (database or search unreachable, with Retry-After) wherever the
  database is used, 401 and 403 wherever a key or token is read, and 429 with
  `Retry-After` on exactly the operations a rate budget covers
  (`service.ops.guard.budget`), whose 2xx and 4xx answers also declare the `RateLimit-*`
  headers;
* every error is declared as `application/problem+json` with the `Problem` schema (the
  only error media type the server sends), except a response that declares its own
  body (`/ready`'s 503);
* an optional query parameter is not nullable: a query string has no null;
* every integer has a format (int32 or int64), so generated clients pick their type;
* the links between operations (service/openapi_links.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from service.errors import ALWAYS, PROBLEM_JSON, PROBLEM_SCHEMA, Problem
from service.openapi_links import add_links
from service.ops.guard import RATE_HEADERS, budget

METHODS = ("get", "put", "post", "patch", "delete")
# Operations that never touch the database (no 503) or read no key (no 401).
NO_DATABASE = {"/health"}
INT32 = (-(2**31), 2**31 - 1)

TAGS = [
    ("organizations", "Providers, schools and the backbone: who lists programs and who refers."),
    ("locations", "The sites where an organization's programs meet."),
    ("programs", "Programs with their age, cost, language, schedule and place facets."),
    ("taxonomy", "Taxonomy terms programs are tagged with."),
    ("search", "Full-text, faceted and geographic program search (anonymous)."),
    ("areas", "Census tracts, ZIP code areas and the city boundary (GeoJSON)."),
    ("students", "A school's students (sealed PII, audited reads)."),
    ("audit", "Who read or changed students' records: the access log (privacy officers, admins)."),
    ("consents", "FERPA consents: what may be disclosed, to whom, until when."),
    ("referrals", "Consented referrals from schools to providers, followed until closed."),
    ("webhooks", "Standard Webhooks endpoints and their deliveries."),
    ("hsds", "The directory as Open Referral HSDS 3.0 (anonymous, any origin)."),
    ("metrics", "Coordination and equity measures, with small cells suppressed."),
    ("operations", "Liveness, readiness and Prometheus metrics."),
    ("api-keys", "API keys for staff and partner apps (admins)."),
]

SERVERS = [
    {
        "url": "/",
        "description": "The server this document is served from (production, staging or a "
        "local `make run`); each deployment serves its own copy at /openapi.json.",
        "x-internal": False,
    }
]

_HEADER_DOCS = {
    "RateLimit-Limit": "Requests the budget allows in its window",
    "RateLimit-Remaining": "Requests left in the current window",
    "RateLimit-Reset": "Seconds until the window frees a request",
    "Retry-After": "Seconds to wait before retrying",
}
_RATE_HEADERS = {
    name: {"description": _HEADER_DOCS[name], "schema": {"type": "integer", "format": "int32"}}
    for name in RATE_HEADERS
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": _HEADER_DOCS["Retry-After"],
        "schema": {"type": "integer", "format": "int32"},
    }
}


def install(
    app: FastAPI,
    extra_models: Sequence[type[BaseModel]],
    extra_components: dict[str, Any] | None = None,
) -> None:
    """Make app.openapi() return the finished document (built once, then cached).

    `extra_models` are schemas only alternative media types refer to (e.g. geo+json);
    `extra_components`, schemas that parameters declared by hand refer to."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = build()
        models: list[type[BaseModel]] = [Problem, *extra_models]
        _, definitions = models_json_schema(
            [(m, "serialization") for m in models],
            ref_template="#/components/schemas/{model}",
        )
        schemas = document["components"]["schemas"]
        schemas.update(definitions.get("$defs", {}))
        for name, schema in (extra_components or {}).items():
            schemas.setdefault(name, schema)
        finish(document)
        add_links(document)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def finish(document: dict[str, Any]) -> None:
    document["servers"] = SERVERS
    document["tags"] = [{"name": name, "description": text} for name, text in TAGS]
    document["info"]["contact"] = {"name": "Youthlink maintainers"}
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                _operation(path, method, item[method])
    for name in ("HTTPValidationError", "ValidationError"):  # errors are Problem documents
        document["components"]["schemas"].pop(name, None)
    _integer_formats(document)


def _operation(path: str, method: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation["responses"]
    statuses = {*ALWAYS, 500}  # the guard and the query check answer 400, 413, 414 and 422
    if path not in NO_DATABASE:
        statuses.add(503)
    if operation.get("security"):
        # 401: a key or token that is not valid; 403: a signed-in person whose token maps
        # to no role or organization here (service/auth/oidc.py), even where none is needed.
        statuses |= {401, 403}
    limited = budget(method.upper(), path) is not None
    if limited:
        statuses.add(429)
    else:
        responses.pop("429", None)
    for added in statuses:
        responses.setdefault(str(added), {})
    for status, response in responses.items():
        code = int(status)
        if code >= 400:
            _problem(code, response)
        if limited and code < 500:
            response["headers"] = {**response.get("headers", {}), **_RATE_HEADERS}
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "query" and not parameter.get("required"):
            parameter["schema"] = _not_null(parameter["schema"])
    keys = list(operation)
    if "parameters" in keys and keys.index("parameters") > keys.index("responses"):
        # Declared by hand (openapi_extra), they arrive last: put them where FastAPI
        # writes its own, before the responses.
        after = keys[keys.index("responses") : keys.index("parameters")]
        moved = {key: operation.pop(key) for key in after}
        operation.update(moved)


def _problem(code: int, response: dict[str, Any]) -> None:
    """Declare a problem+json body, unless the response declares a body of its own."""
    content = response.get("content") or {}
    own = {
        media: body
        for media, body in content.items()
        if media != PROBLEM_JSON
        and body.get("schema") not in (None, PROBLEM_SCHEMA)
        and "HTTPValidationError" not in str(body.get("schema"))
    }
    response.setdefault("description", HTTPStatus(code).phrase)
    if own:
        response["content"] = own
    else:
        response["content"] = {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}
    if code in (429, 503):
        response["headers"] = {**response.get("headers", {}), **_RETRY_AFTER}


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    options = schema.get("anyOf")
    if not options:
        return schema
    kept = [o for o in options if o != {"type": "null"}]
    if len(kept) == len(options):
        return schema
    rest = {k: v for k, v in schema.items() if k != "anyOf"}
    return {**kept[0], **rest} if len(kept) == 1 else {**rest, "anyOf": kept}


def _integer_formats(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("type") == "integer" and "format" not in node:
            low, high = node.get("minimum"), node.get("maximum")
            fits = low is not None and high is not None and INT32[0] <= low and high <= INT32[1]
            node["format"] = "int32" if fits else "int64"
        for value in node.values():
            _integer_formats(value)
    elif isinstance(node, list):
        for value in node:
            _integer_formats(value)
