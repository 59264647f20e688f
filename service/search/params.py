"""GET /search/programs query parameters -> SearchQuery, with the cross-field rules.

The filter parameters come from the table in service/search/filters.py: `SearchParams`,
the query parameter model FastAPI validates (and documents) in one pass, is built from it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, get_args, get_origin

from fastapi import FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import (
    BaseModel,
    ConfigDict,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    create_model,
)

from service import local_time
from service.errors import FieldError, Unprocessable
from service.search.filters import FILTERS, Facet, verified_since
from service.search.query import MAX_HITS, Point, SearchQuery, Sort, filters

MAX_PAGE = MAX_HITS  # with per_page=1; page * per_page is checked against MAX_HITS
SUPPORTED_LANGUAGES = ("en", "es")

_NEAR = re.compile(r"^\s*(-?\d{1,2}(?:\.\d+)?)\s*,\s*(-?\d{1,3}(?:\.\d+)?)\s*$")
_LANGUAGE_RANGE = re.compile(
    r"^\s*([A-Za-z]{1,8})(?:-[A-Za-z0-9]{1,8})*\s*(?:;\s*q\s*=\s*([^,;\s]*))?"
)


def _bad(name: str, msg: str) -> FieldError:
    return FieldError(loc=["query", name], msg=msg, type="value_error")


def preferred_language(header: str | None) -> str:
    """The first supported language of an Accept-Language header, by weight (default en)."""
    best, best_q = "en", -1.0
    for position, part in enumerate((header or "").split(",")):
        match = _LANGUAGE_RANGE.match(part)
        if not match:
            continue
        tag = match.group(1).lower()
        try:
            weight = float(match.group(2)) if match.group(2) else 1.0
        except ValueError:
            continue
        if tag in SUPPORTED_LANGUAGES and weight > 0 and weight - position * 1e-6 > best_q:
            best, best_q = tag, weight - position * 1e-6
    return best


def _point(raw: str | None, errors: list[FieldError]) -> Point | None:
    if raw is None:
        return None
    match = _NEAR.match(raw)
    if match:
        lat, lng = float(match.group(1)), float(match.group(2))
        if -90 <= lat <= 90 and -180 <= lng <= 180:
            return Point(lat, lng)
    errors.append(_bad("near", "give latitude,longitude in decimal degrees, e.g. 41.1177,-73.4082"))
    return None


def _facets(raw: list[str], errors: list[FieldError]) -> tuple[Facet, ...]:
    names = [n.strip() for item in raw for n in item.split(",") if n.strip()]
    unknown = [n for n in names if n not in Facet.__members__]
    if unknown:
        allowed = ", ".join(Facet)
        errors.append(_bad("facets", f"unknown facet {', '.join(unknown)}; choose from {allowed}"))
    return tuple(dict.fromkeys(Facet(n) for n in names if n in Facet.__members__))


def _cross_field(values: dict[str, Any], near: Point | None, sort: Sort) -> list[FieldError]:
    errors = []
    if values.get("radius_m") is not None and near is None:
        errors.append(_bad("radius_m", "radius_m needs near=lat,lng"))
    if sort is Sort.distance and near is None:
        errors.append(_bad("sort", "sort=distance needs near=lat,lng"))
    age, low, high = values.get("age"), values.get("age_min"), values.get("age_max")
    if age is not None and (low is not None or high is not None):
        errors.append(_bad("age", "give age, or age_min/age_max, not both"))
    if low is not None and high is not None and low > high:
        errors.append(_bad("age_min", "age_min is above age_max"))
    start, end = values.get("time_from"), values.get("time_to")
    if start is not None and end is not None and start >= end:
        errors.append(_bad("time_from", "time_from must be before time_to"))
    return errors


_OWN: dict[str, tuple[Any, Any]] = {
    "q": (
        Annotated[
            str | None,
            Query(max_length=200, pattern=r"^[^\x00]*$", description="Words, English or Spanish"),
        ],
        None,
    ),
    **{f.name: (f.param, None) for f in FILTERS},
    "near": (
        Annotated[
            str | None,
            Query(max_length=60, description="lat,lng: distances are measured from here"),
        ],
        None,
    ),
    "sort": (
        Annotated[Sort, Query(description="relevance needs q (else name); distance needs near")],
        Sort.relevance,
    ),
    "page": (Annotated[int, Query(ge=1, le=MAX_PAGE)], 1),
    "per_page": (Annotated[int, Query(ge=1, le=100)], 20),
    "facets": (
        Annotated[
            list[Annotated[str, StringConstraints(max_length=200)]] | None,
            Query(description=f"Comma-separated: {', '.join(Facet)}", max_length=20),
        ],
        None,
    ),
}
# The query parameters as one model (FastAPI validates it in one pass): the words, every
# filter of the table, then place, sort, page and facets. Unknown names are refused by
# service.strict_query, as on every operation.
SearchParams: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "SearchParams", __config__=ConfigDict(extra="ignore"), **_OWN
)


def _repeated(annotation: Any) -> bool:
    """list[...] or list[...] | None: a parameter given once per value."""
    return get_origin(annotation) is list or any(
        get_origin(a) is list for a in get_args(annotation)
    )


_LISTS = frozenset(
    name for name, field in SearchParams.model_fields.items() if _repeated(field.annotation)
)
_HEADER: TypeAdapter[str | None] = TypeAdapter(
    Annotated[str | None, StringConstraints(max_length=200)]
)
_ACCEPT: TypeAdapter[str | None] = TypeAdapter(
    Annotated[str | None, StringConstraints(max_length=500)]
)


def accept_header(request: Request) -> str | None:
    """The Accept header (it chooses GeoJSON), held to 500 characters as documented."""
    try:
        return _ACCEPT.validate_python(request.headers.get("accept"))
    except ValidationError as exc:
        raise _invalid(exc, "header", "accept") from None


async def search_params(request: Request) -> SearchQuery:
    """The request's query string, validated as SearchParams in one pydantic call.

    FastAPI would validate each of the model's 31 fields on its own, inspecting its
    annotation on every request (about 1 ms of a search's 3). The answers are the same:
    a field that does not validate is a 422 with its place (`["query", name]`)."""
    data: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        if key in _LISTS:
            data.setdefault(key, []).append(value)
        else:
            data[key] = value
    try:
        params = SearchParams.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc, "query") from None
    try:
        accept_language = _HEADER.validate_python(request.headers.get("accept-language"))
    except ValidationError as exc:
        raise _invalid(exc, "header", "accept-language") from None
    raw: dict[str, Any] = dict(params)
    near, sort = raw.pop("near"), raw.pop("sort")
    page, per_page, facets = raw.pop("page"), raw.pop("per_page"), raw.pop("facets")
    q = raw.pop("q")
    errors: list[FieldError] = []
    point = _point(near, errors)
    errors += _cross_field(raw, point, sort)
    if (page - 1) * per_page >= MAX_HITS:
        errors.append(
            _bad("page", f"search reaches the first {MAX_HITS} hits; narrow the search instead")
        )
    wanted_facets = _facets(facets or [], errors)
    now = local_time.now()
    values: dict[str, Any] = {}
    for spec in FILTERS:
        given = raw.get(spec.name)
        if given is None or given == []:
            continue
        try:
            values[spec.name] = spec.convert(given) if spec.convert else given
        except ValueError as exc:
            errors.append(_bad(spec.name, str(exc)))
    if "verified_within_days" in values:
        values["verified_within_days"] = verified_since(values["verified_within_days"], now)
    if errors:
        raise Unprocessable("Invalid search parameters.", code="invalid_search", errors=errors)
    return SearchQuery(
        text=q.strip() or None if q else None,
        filters=filters(**values),
        near=point,
        sort=sort,
        page=page,
        per_page=per_page,
        facets=wanted_facets,
        language=preferred_language(accept_language),
        today=now.date(),
    )


def _invalid(exc: ValidationError, where: str, *name: str) -> RequestValidationError:
    """pydantic's errors placed as FastAPI places them: ["query", <parameter>, ...]."""
    return RequestValidationError([{**e, "loc": (where, *name, *e["loc"])} for e in exc.errors()])


def documented_parameters() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The OpenAPI parameters FastAPI writes for SearchParams (and the Accept and
    Accept-Language headers), with the component schemas they refer to: what GET
    /search/programs declares although it parses the request itself."""
    app = FastAPI()

    @app.get("/")
    def documented(
        params: Annotated[SearchParams, Query()],
        accept: Annotated[str | None, Header(max_length=500)] = None,
        accept_language: Annotated[str | None, Header(max_length=200)] = None,
    ) -> None:
        """Only its signature is read."""

    document = app.openapi()
    parameters = document["paths"]["/"]["get"]["parameters"]
    accept = [p for p in parameters if p["name"] == "accept"]  # first, as it always was
    rest = [p for p in parameters if p["name"] != "accept"]
    return accept + rest, document["components"]["schemas"]
