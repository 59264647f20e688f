"""Importing HSDS: the specification's examples, malformed input, idempotency, truncation."""

from __future__ import annotations

import copy
import csv
import json
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.catalog.models import Organization, Program
from service.hsds.importer import Summary, import_records
from service.hsds.reader import records_from_path
from service.search.models import SearchChange
from tests.hsds.conftest import Schemas

ORG = "5a0a1c3e-0000-4000-8000-000000000001"


def service(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "name": "Chess Club",
        "status": "active",
        "description": "Chess after school.",
        "minimum_age": 8,
        "organization": {"id": ORG, "name": "Chess Friends", "description": "A club."},
        "schedules": [
            {"id": str(uuid.uuid4()), "freq": "WEEKLY", "byday": "TU", "opens_at": "15:00",
             "closes_at": "16:30"}
        ],
        "languages": [{"id": str(uuid.uuid4()), "code": "es", "name": "Spanish"}],
    }  # fmt: skip
    record.update(overrides)
    return record


async def _count(session: AsyncSession, model: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _import(session: AsyncSession, path: Path) -> Summary:
    return await import_records(session, records_from_path(path))


def _write(path: Path, records: list[Any], ndjson: bool = False) -> Path:
    if ndjson:
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    else:
        path.write_text(json.dumps(records))
    return path


async def test_the_specification_examples_import_cleanly(
    session: AsyncSession, hsds: Schemas, tmp_path: Path
) -> None:
    examples = hsds.directory / "examples"
    single = await _import(session, examples / "service_full.json")
    assert (single.created, single.rejected, single.file_error) == (1, [], None)
    assert any("out of range" in w for w in single.warnings)  # latitude 100 is reported
    # Every example that holds services imports as it is: a page, an organization, a
    # service at a location.
    for name in ("service_list.json", "organization_full.json", "service_at_location_full.json"):
        as_is = await _import(session, examples / name)
        assert as_is.rejected == [] and as_is.file_error is None, name
        assert as_is.created + as_is.updated + as_is.unchanged >= 1, name
    listed = json.loads((examples / "service_list.json").read_text())["contents"]
    as_list = await _import(session, _write(tmp_path / "list.json", listed))
    as_ndjson = await _import(session, _write(tmp_path / "list.ndjson", listed, ndjson=True))
    assert as_list.rejected == as_ndjson.rejected == []
    assert as_ndjson.unchanged == len(listed)
    package = tmp_path / "package"
    package.mkdir()
    for name, rows in json.loads((examples / "tabular.json").read_text()).items():
        columns = sorted({k for row in rows for k in row})
        with (package / name).open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    tabular = await _import(session, package)
    assert tabular.rejected == [] and tabular.file_error is None
    assert tabular.created + tabular.updated + tabular.unchanged >= 1
    # The other examples hold the same service id with other values: it was updated.
    back = await _import(session, examples / "service_full.json")
    again = await _import(session, examples / "service_full.json")
    assert (back.updated, again.created, again.updated, again.unchanged) == (1, 0, 0, 1)


async def test_importing_twice_changes_nothing(session: AsyncSession, tmp_path: Path) -> None:
    path = _write(tmp_path / "one.json", [service(), service(name="Art Club")])
    first = await _import(session, path)
    assert first.created == 2
    queued = set(await session.scalars(select(SearchChange.program_id)))
    assert {uuid.UUID(r["id"]) for r in json.loads(path.read_text())} <= queued  # to search
    version = await session.scalar(select(func.max(Program.version)))
    logged = await _count(session, SearchChange)
    second = await _import(session, path)
    assert (second.created, second.updated, second.unchanged) == (0, 0, 2)
    assert await session.scalar(select(func.max(Program.version))) == version
    assert await _count(session, SearchChange) == logged  # not even a change log row
    changed = json.loads(path.read_text())
    changed[0]["name"] = "Chess Club (new day)"
    third = await _import(session, _write(path, changed))
    assert (third.updated, third.unchanged) == (1, 1)


async def test_malformed_records_are_rejected_whole(session: AsyncSession, tmp_path: Path) -> None:
    good = service()
    bad_org = copy.deepcopy(service(minimum_age="twelve"))
    bad_org["organization"] = {"id": str(uuid.uuid4()), "name": "Ghost", "description": "x"}
    records = [
        good,
        bad_org,  # wrong type; its new organization must not be written either
        {k: v for k, v in service().items() if k != "name"},  # missing required field
        service(id="not-a-uuid"),
        service(schedules=[{"id": str(uuid.uuid4()), "freq": "DAILY", "opens_at": "09:00",
                            "closes_at": "10:00"}]),
        service(attributes=[{"id": str(uuid.uuid4()), "taxonomy_term": {
            "id": str(uuid.uuid4()), "name": "Chess", "description": "",
            "taxonomy_id": str(uuid.uuid4())}}]),  # unknown taxonomy
        service(attributes=[{"id": str(uuid.uuid4()), "taxonomy_term_id": str(uuid.uuid4())}]),
        "not an object",
    ]  # fmt: skip
    orgs_before = await _count(session, Organization)
    summary = await _import(session, _write(tmp_path / "mixed.json", records))
    assert summary.created == 1
    reasons = {r.record: " ".join(r.errors) for r in summary.rejected}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7, 8]
    assert "minimum_age" in reasons[2]
    assert "name" in reasons[3] and "Field required" in reasons[3]
    assert "uuid" in reasons[4].lower()
    assert "freq" in reasons[5]
    assert "unknown taxonomy" in reasons[6]
    assert "unknown taxonomy term" in reasons[7]
    assert "JSON object" in reasons[8]
    assert await _count(session, Program) == 1
    assert await _count(session, Organization) == orgs_before + 1  # the good record's only


async def test_a_truncated_file_keeps_the_whole_records_before_the_break(
    session: AsyncSession, tmp_path: Path
) -> None:
    text = json.dumps([service(), service(name="Art Club")])
    cut = tmp_path / "cut.json"
    cut.write_text(text[: len(text) - 40])
    summary = await _import(session, cut)
    assert summary.created == 1 and summary.file_error is not None
    assert "breaks off" in summary.file_error
    lines = tmp_path / "cut.ndjson"
    lines.write_text(json.dumps(service()) + "\n" + json.dumps(service())[:50])
    from_lines = await _import(session, lines)
    assert from_lines.created == 1 and "line 2" in from_lines.rejected[0].errors[0]


async def test_admins_import_through_the_api(client: Any, callers: Any) -> None:
    body = json.dumps([service(), service(name="Art Club")])
    headers = {**callers.admin.headers, "Content-Type": "application/json"}
    first = await client.post("/hsds/import", content=body, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["created"] == 2 and first.json()["rejected"] == []
    lines = "".join(json.dumps(r) + "\n" for r in json.loads(body))
    again = await client.post(
        "/hsds/import",
        content=lines,
        headers={**callers.admin.headers, "Content-Type": "application/x-ndjson"},
    )
    assert again.json()["unchanged"] == 2
    provider = await client.post(
        "/hsds/import",
        content=body,
        headers={**callers.provider_a.headers, "Content-Type": "application/json"},
    )
    assert provider.status_code == 403
    wrong = await client.post(
        "/hsds/import", content="a,b", headers={**callers.admin.headers, "Content-Type": "text/csv"}
    )
    assert wrong.status_code == 415 and wrong.json()["code"] == "unsupported_media_type"


async def test_a_zipped_csv_package_through_the_api(
    client: Any, callers: Any, session: AsyncSession, tmp_path: Path
) -> None:
    import zipfile

    from service.hsds.export import write_package

    await _import(session, _write(tmp_path / "two.json", [service(), service(name="Art Club")]))
    await write_package(session, tmp_path / "package")
    archive = tmp_path / "package.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for file in (tmp_path / "package").iterdir():
            z.write(file, f"package/{file.name}")
    response = await client.post(
        "/hsds/import",
        content=archive.read_bytes(),
        headers={**callers.admin.headers, "Content-Type": "application/zip"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["unchanged"] == 2
