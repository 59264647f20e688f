"""Export, then import into an empty database: the same catalog comes back.

Both formats: ndjson of full services, and the CSV data package. "The same" is judged on
the exports themselves, record by record, except last_modified (the import is a new
write).
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from service.catalog.seed import load_seed_file
from service.hsds.export import write_ndjson, write_package
from service.hsds.importer import import_records
from service.hsds.reader import records_from_path
from service.settings import Settings
from tests.conftest import make_test_database


@pytest.fixture(scope="session")
def empty_database(worker_id_safe: str) -> str:
    return make_test_database(f"{worker_id_safe}_hsds")


@pytest.fixture
async def other(empty_database: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_async_engine(empty_database, poolclass=NullPool)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session, session.begin():
        await session.execute(text("TRUNCATE organizations, taxonomies, search_changes CASCADE"))
    yield sessions
    await engine.dispose()


def _records(ndjson: str) -> dict[str, Any]:
    out = {}
    for line in ndjson.splitlines():
        record = json.loads(line)
        record.pop("last_modified")
        out[record["id"]] = record
    return out


async def _export(session: AsyncSession) -> str:
    buffer = io.StringIO()
    await write_ndjson(session, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("form", ["ndjson", "csv"])
async def test_export_then_import_reproduces_the_catalog(
    session: AsyncSession,
    settings: Settings,
    other: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    form: str,
) -> None:
    await load_seed_file(session, settings.seeds_dir / "norwalk.json")
    original = await _export(session)
    if form == "ndjson":
        source = tmp_path / "catalog.ndjson"
        source.write_text(original)
    else:
        source = tmp_path / "package"
        await write_package(session, source)
        assert (source / "datapackage.json").exists()
    async with other() as target, target.begin():
        summary = await import_records(target, records_from_path(source))
    assert summary.rejected == [] and summary.file_error is None
    assert summary.created == len(original.splitlines()) >= 80
    async with other() as target:
        copied = await _export(target)
    before, after = _records(original), _records(copied)
    assert before.keys() == after.keys()
    for ident, record in before.items():
        assert after[ident] == record, ident
