"""Catalog reads on the hot path: one statement each, compiled once per scope shape and
run on the driver (service/reader.py).

A program is sent as its stored document: the whole ProgramOut JSON, which PostgreSQL
writes when the program or anything it shows changes (catalog/documents.py, migration
0011), so a read parses and maps nothing. Organizations and locations are rows turned
into the API's dicts and validated by the response schema (TypeAdapter). Scoping is
auth.scope's. A list reads the ids of its page first (through the (name, id) index),
then those rows only; its total comes from catalog/totals.py. Writes keep the ORM
(service.py): they need the objects.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from pydantic import TypeAdapter
from sqlalchemy import CTE, Integer, Select, Uuid, func, literal_column, select

from service.auth import scope
from service.auth.principal import Principal
from service.catalog.enums import Category, ProgramStatus
from service.catalog.models import Location, Organization, Program, ProgramDocument
from service.catalog.program_cache import Document, ProgramCache
from service.catalog.schemas import LocationOut, OrganizationOut
from service.catalog.totals import Totals
from service.errors import NotFound
from service.pagination import PageParams, envelope
from service.reader import Prepared, Reader, param

_ORGANIZATION = TypeAdapter(OrganizationOut)
_ORGANIZATIONS = TypeAdapter(list[OrganizationOut])
_LOCATION = TypeAdapter(LocationOut)
_LOCATIONS = TypeAdapter(list[LocationOut])


def _program_select() -> Select[str, int]:
    """A program's stored document (catalog/documents.py), or the same JSON written now
    for a program that has none stored, with its version."""
    body = func.coalesce(ProgramDocument.body, func.program_document(Program.id)).label("body")
    stored = Program.__table__.outerjoin(
        ProgramDocument.__table__, ProgramDocument.program_id == Program.id
    )
    return select(body, Program.version).select_from(stored)


def programs_json(rows: Sequence[Any]) -> bytes:
    """The JSON array of program rows' documents, as stored: nothing is parsed."""
    return b"[" + ",".join(row["body"] for row in rows).encode() + b"]"


def not_found(kind: str, ident: uuid.UUID) -> NotFound:
    return NotFound(f"No {kind} with id {ident} is visible to you.")


def _paged(query: Select[*tuple[Any, ...]], *order: Any) -> CTE:
    """The ids of one page of `query` (OFFSET :offset LIMIT :limit in `order`), as a CTE
    the page's rows are then built from."""
    offset = param("offset", Integer)
    limit = param("limit", Integer)
    return query.order_by(*order).offset(offset).limit(limit).cte("page")


async def _total(
    reader: Reader, totals: Totals, statement: Any, rows: int, params: PageParams, **values: Any
) -> int:
    """The list's row count: known from a page that is not full, else counted (or kept)."""
    if 0 < rows < params.per_page or (rows == 0 and params.page == 1):
        return params.offset + rows

    async def count() -> int:
        row = await reader.fetchrow(statement, **values)
        return int(row[0]) if row is not None else 0

    return await totals.total((statement.sql, tuple(sorted(values.items()))), count)


def _page_json(items: bytes, total: int, params: PageParams, size: int) -> bytes:
    """The HSDS page envelope around already written items."""
    head = orjson.dumps({**envelope(total, params.page, params.per_page, [None] * size)})
    return head[: head.rindex(b',"contents":')] + b',"contents":' + items + b"}"


# -- programs ------------------------------------------------------------------------

PROGRAM_ORDER = (Program.name, Program.id)


def _program_by_id(shape: Principal) -> Select[str, int]:
    """The one statement of a program read (the read benchmark's reference runs it too)."""
    wanted = Program.id == param("program_id", Uuid)
    return _program_select().where(wanted, scope.readable(Program, shape))


def _programs(shape: Principal, *filters: str, count: bool = False) -> Select[Any]:
    """A page of programs (or their count) with the named filters bound at run time."""
    where = [scope.readable(Program, shape)]
    where += [getattr(Program, name) == param(name) for name in filters]
    if count:
        return select(func.count()).select_from(Program.__table__).where(*where)
    page = _paged(select(Program.id, Program.name).where(*where), *PROGRAM_ORDER)
    # The page's documents straight from the page's ids: the programs were read once.
    body = func.coalesce(ProgramDocument.body, func.program_document(page.c.id)).label("body")
    stored = page.outerjoin(ProgramDocument, ProgramDocument.program_id == page.c.id)
    return select(body).select_from(stored).order_by(page.c.name, page.c.id)


PROGRAM = Prepared(_program_by_id)
PROGRAMS = Prepared(_programs)
PROGRAMS_COUNT = Prepared(lambda shape, *filters: _programs(shape, *filters, count=True))


def _one(
    row: Any, what: str, ident: uuid.UUID, adapter: TypeAdapter[Any], build: Any
) -> tuple[bytes, int]:
    """(response JSON, version) of one fetched row; 404 when the reader may not see it."""
    if row is None:
        raise not_found(what, ident)
    return adapter.dump_json(adapter.validate_python(build(row))), row["version"]


async def program(
    reader: Reader,
    principal: Principal,
    program_id: uuid.UUID,
    kept: ProgramCache | None = None,
) -> Document:
    """(ProgramOut JSON, version) of a program the principal may read; 404 otherwise. An
    anonymous read is served from `kept` when it holds the program (program_cache.py)."""
    if kept is None or not principal.is_anonymous or not await kept.current():
        return await _program(reader, principal, program_id)
    found = kept.get(program_id)
    if found is None:
        began_under = kept.forgets
        found = await _program(reader, principal, program_id)
        kept.put(program_id, found, began_under)
    return found


async def _program(reader: Reader, principal: Principal, program_id: uuid.UUID) -> Document:
    row = await reader.fetchrow(PROGRAM(scope.shape(principal)), program_id=program_id)
    if row is None:
        raise not_found("program", program_id)
    return row["body"].encode(), row["version"]


async def programs_page(
    reader: Reader,
    totals: Totals,
    principal: Principal,
    params: PageParams,
    *,
    organization_id: uuid.UUID | None = None,
    category: Category | None = None,
    status: ProgramStatus | None = None,
) -> bytes:
    given = {"organization_id": organization_id, "category": category, "status": status}
    values = {name: value for name, value in given.items() if value is not None}
    shape = (scope.shape(principal), *values)
    paging = {"offset": params.offset, "limit": params.per_page}
    rows = await reader.fetch(PROGRAMS(*shape), **values, **paging)
    total = await _total(reader, totals, PROGRAMS_COUNT(*shape), len(rows), params, **values)
    return _page_json(programs_json(rows), total, params, len(rows))


# -- organizations -------------------------------------------------------------------

ORGANIZATION_ORDER = (Organization.name, Organization.id)


def _organization(row: Any) -> dict[str, Any]:
    return {name: row[name] for name in OrganizationOut.model_fields}


def _organization_by_id(shape: Principal) -> Select[Any]:
    wanted = Organization.id == param("organization_id", Uuid)
    return select(Organization.__table__).where(wanted, scope.readable(Organization, shape))


def _organizations(shape: Principal, by_type: bool, count: bool = False) -> Select[Any]:
    where = [scope.readable(Organization, shape)]
    if by_type:
        where.append(Organization.type == param("type"))
    if count:
        return select(func.count()).select_from(Organization.__table__).where(*where)
    page = _paged(select(Organization.id).where(*where), *ORGANIZATION_ORDER)
    query = select(Organization.__table__).join(page, page.c.id == Organization.id)
    return query.order_by(*ORGANIZATION_ORDER)


ORGANIZATION = Prepared(_organization_by_id)
ORGANIZATIONS = Prepared(_organizations)
ORGANIZATIONS_COUNT = Prepared(lambda shape, by_type: _organizations(shape, by_type, True))


async def organization(
    reader: Reader, principal: Principal, organization_id: uuid.UUID
) -> tuple[bytes, int]:
    compiled = ORGANIZATION(scope.shape(principal))
    row = await reader.fetchrow(compiled, organization_id=organization_id)
    return _one(row, "organization", organization_id, _ORGANIZATION, _organization)


async def organizations_page(
    reader: Reader, totals: Totals, principal: Principal, params: PageParams, org_type: Any
) -> bytes:
    values = {} if org_type is None else {"type": org_type}
    shape = (scope.shape(principal), org_type is not None)
    paging = {"offset": params.offset, "limit": params.per_page}
    rows = await reader.fetch(ORGANIZATIONS(*shape), **values, **paging)
    total = await _total(reader, totals, ORGANIZATIONS_COUNT(*shape), len(rows), params, **values)
    items = _ORGANIZATIONS.dump_json(
        _ORGANIZATIONS.validate_python([_organization(r) for r in rows])
    )
    return _page_json(items, total, params, len(rows))


# -- locations -----------------------------------------------------------------------

_LOCATION_COLUMNS = (
    *(c for c in Location.__table__.c if c.name != "point"),
    literal_column("ST_Y(locations.point::geometry)").label("latitude"),
    literal_column("ST_X(locations.point::geometry)").label("longitude"),
)
LOCATION_ORDER = (Location.name, Location.id)


def _location(row: Any) -> dict[str, Any]:
    return {name: row[name] for name in LocationOut.model_fields}


def _location_by_id(shape: Principal) -> Select[Any]:
    wanted = Location.id == param("location_id", Uuid)
    return select(*_LOCATION_COLUMNS).where(wanted, scope.readable(Location, shape))


def _visible_organization(shape: Principal) -> Select[Any]:
    wanted = Organization.id == param("organization_id", Uuid)
    return select(Organization.id).where(wanted, scope.readable(Organization, shape))


def _locations(shape: Principal, count: bool = False) -> Select[Any]:
    """An organization's locations, none when the organization is not visible."""
    where = (
        Location.organization_id == param("organization_id", Uuid),
        _visible_organization(shape).exists(),
    )
    if count:
        return select(func.count()).select_from(Location.__table__).where(*where)
    page = _paged(select(Location.id).where(*where), *LOCATION_ORDER)
    return select(*_LOCATION_COLUMNS).join(page, page.c.id == Location.id).order_by(*LOCATION_ORDER)


LOCATION = Prepared(_location_by_id)
LOCATIONS = Prepared(_locations)
LOCATIONS_COUNT = Prepared(lambda shape: _locations(shape, count=True))
VISIBLE_ORGANIZATION = Prepared(_visible_organization)


async def location(
    reader: Reader, principal: Principal, location_id: uuid.UUID
) -> tuple[bytes, int]:
    row = await reader.fetchrow(LOCATION(scope.shape(principal)), location_id=location_id)
    return _one(row, "location", location_id, _LOCATION, _location)


async def locations_page(
    reader: Reader,
    totals: Totals,
    principal: Principal,
    organization_id: uuid.UUID,
    params: PageParams,
) -> bytes:
    """An organization's locations; 404 when the organization is not visible."""
    shape = scope.shape(principal)
    paging = {"offset": params.offset, "limit": params.per_page}
    rows = await reader.fetch(LOCATIONS(shape), organization_id=organization_id, **paging)
    if not rows and not await reader.fetchrow(
        VISIBLE_ORGANIZATION(shape), organization_id=organization_id
    ):
        raise not_found("organization", organization_id)
    total = await _total(
        reader, totals, LOCATIONS_COUNT(shape), len(rows), params, organization_id=organization_id
    )
    items = _LOCATIONS.dump_json(_LOCATIONS.validate_python([_location(r) for r in rows]))
    return _page_json(items, total, params, len(rows))
