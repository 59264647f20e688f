"""POST /hsds/import: admins upload HSDS 3.0 services (JSON, ndjson, or a zipped CSV package)."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Annotated

import anyio
from fastapi import APIRouter, Query, Request

from service.auth.principal import Principal, require_roles
from service.auth.roles import Role
from service.catalog.enums import Category
from service.db import SessionDep
from service.errors import AppError, problem_responses
from service.hsds.importer import import_records
from service.hsds.reader import records_from_path
from service.hsds.schemas import ImportSummaryOut
from service.settings import Settings

router = APIRouter(prefix="/hsds", tags=["hsds"])
Admin = Annotated[Principal, require_roles(Role.admin)]

SUFFIXES = {
    "application/json": ".json",
    "application/x-ndjson": ".ndjson",
    "application/zip": ".zip",
}
# The default body limit of an import (YOUTHLINK_MAX_IMPORT_BYTES; over it: 413).
MAX_BYTES = Settings.model_fields["max_import_bytes"].default


class UnsupportedMediaType(AppError):
    status = 415
    code = "unsupported_media_type"


@router.post(
    "/import",
    operation_id="hsds_import",
    summary="Import HSDS 3.0 services (admins)",
    description="The body is a JSON list of services, one service object, ndjson "
    "(application/x-ndjson), or the tabular CSV data package as a zip (application/zip). "
    "Upserts by id; each record is imported whole or rejected with its errors; importing "
    "the same file twice changes nothing. The body is streamed to a temporary file and "
    "read a record at a time; it may be up to YOUTHLINK_MAX_IMPORT_BYTES (default 200 MB).",
    responses=problem_responses(401, 403, 415),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {}},
                "application/x-ndjson": {"schema": {"type": "string", "maxLength": MAX_BYTES}},
                "application/zip": {
                    "schema": {"type": "string", "format": "binary", "maxLength": MAX_BYTES}
                },
            },
        }
    },
)
async def hsds_import(
    request: Request,
    session: SessionDep,
    principal: Admin,
    category: Annotated[
        Category, Query(description="Category of services whose record names none")
    ] = Category.family_support,
) -> ImportSummaryOut:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    suffix = SUFFIXES.get(media)
    if suffix is None:
        raise UnsupportedMediaType(
            f"Send {', '.join(SUFFIXES)}; got '{media or 'no Content-Type'}'."
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        async with await anyio.open_file(path, "wb") as out:
            async for chunk in request.stream():
                await out.write(chunk)
        summary = await import_records(session, records_from_path(path), category)
    return ImportSummaryOut.model_validate(dataclasses.asdict(summary))
