"""Reading HSDS files as a stream of service records.

* JSON: a list of services (parsed incrementally with ijson, never loaded whole), one
  service object, or ndjson (one service per line, read line by line).
* The HSDS tabular data package: a directory (or .zip) of CSV files named as in HSDS's
  datapackage (services.csv, organizations.csv, locations.csv, service_at_location.csv,
  schedules.csv, ...). services.csv is streamed; the other tables are indexed by the id
  that joins them to a service, so they are held in memory.

A line or item that is not JSON becomes a RecordError for that record alone; a file that
breaks off (truncated) raises SourceError after the records read before the break.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import ijson

from service.hsds.importer import SourceError
from service.hsds.inbound import RecordError

NUMERIC = {
    "minimum_age",
    "maximum_age",
    "latitude",
    "longitude",
    "amount",
    "interval",
    "year_incorporated",
    "extension",
    "count",
    "timezone",
}
JSON_COLUMNS = {"youthlink"}
Record = dict[str, Any]


def records_from_path(path: Path) -> Iterator[Any]:
    if path.is_dir():
        yield from table_records(path)
    elif path.suffix.lower() == ".zip":
        with tempfile.TemporaryDirectory() as tmp:
            with zipfile.ZipFile(path) as archive:
                for name in archive.namelist():
                    if name.startswith("/") or ".." in Path(name).parts:
                        raise SourceError(f"the zip holds an unsafe path: {name}")
                archive.extractall(tmp)
            root = Path(tmp)
            package = next(root.rglob("services.csv"), None)
            if package is None:
                raise SourceError("the zip holds no services.csv")
            yield from table_records(package.parent)
    else:
        with path.open("rb") as stream:
            yield from json_records(stream)


def _first_byte(stream: IO[bytes]) -> bytes:
    while True:
        byte = stream.read(1)
        if not byte or not byte.isspace():
            return byte


def json_records(stream: IO[bytes]) -> Iterator[Any]:
    """Services from a JSON list, a single JSON object, or ndjson."""
    start = stream.tell()
    first = _first_byte(stream)
    stream.seek(start)
    if not first:
        return
    if first == b"[":
        try:
            yield from ijson.items(stream, "item", use_float=True)
        except ijson.JSONError as exc:
            raise SourceError(f"the JSON list breaks off or is malformed: {exc}") from None
        return
    if first != b"{":
        raise SourceError("not HSDS JSON: expected a list, an object, or one object per line")
    lines = io.TextIOWrapper(stream, encoding="utf-8", errors="replace")
    number = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except ValueError:
            if number == 1:  # a single pretty-printed object, not ndjson
                lines.detach()
                stream.seek(start)
                yield _single_object(stream)
                return
            yield RecordError([f"line {number} is not a JSON object (truncated?)"])


def _single_object(stream: IO[bytes]) -> Any:
    try:
        return json.load(stream)
    except ValueError as exc:
        raise SourceError(f"the JSON object breaks off or is malformed: {exc}") from None


# ---------------------------------------------------------------- tabular


def _rows(directory: Path, *names: str) -> Iterator[Record]:
    for name in names:
        path = directory / name
        if path.exists():
            with path.open(newline="", encoding="utf-8-sig") as f:
                for row in csv.DictReader(f):
                    yield _typed(row)
            return


def _typed(row: dict[str, str | None]) -> Record:
    out: Record = {}
    for key, value in row.items():
        if key is None or value is None or value == "":
            continue
        if key in NUMERIC:
            try:
                out[key] = float(value) if "." in value else int(value)
            except ValueError:
                out[key] = value  # left for validation to reject with its name
        elif key in JSON_COLUMNS:
            try:
                out[key] = json.loads(value)
            except ValueError:
                out[key] = value
        else:
            out[key] = value
    return out


def _index(rows: Iterator[Record], key: str) -> dict[str, list[Record]]:
    grouped: dict[str, list[Record]] = defaultdict(list)
    for row in rows:
        if key in row:
            grouped[row[key]].append(row)
    return grouped


def _by_id(rows: Iterator[Record]) -> dict[str, Record]:
    return {row["id"]: row for row in rows if "id" in row}


def table_records(directory: Path) -> Iterator[Any]:
    if not (directory / "services.csv").exists():
        raise SourceError(f"{directory} has no services.csv")
    organizations = _by_id(_rows(directory, "organizations.csv"))
    phones = _index(_rows(directory, "phones.csv"), "organization_id")
    locations = _by_id(_rows(directory, "locations.csv"))
    addresses = _index(_rows(directory, "addresses.csv"), "location_id")
    taxonomies = _by_id(_rows(directory, "taxonomies.csv"))
    terms = _by_id(_rows(directory, "taxonomy_terms.csv"))
    children = {
        name: _index(_rows(directory, *files), "service_id")
        for name, files in {
            "service_at_locations": ("service_at_location.csv", "service_at_locations.csv"),
            "schedules": ("schedules.csv",),
            "cost_options": ("cost_options.csv",),
            "languages": ("languages.csv",),
            "service_areas": ("service_areas.csv",),
        }.items()
    }
    attributes = _index(_rows(directory, "attributes.csv"), "link_id")
    for service in _rows(directory, "services.csv"):
        ident = service.get("id", "")
        org = organizations.get(service.get("organization_id", ""))
        if org is not None:
            service["organization"] = {**org, "phones": phones.get(org["id"], [])}
        for name, index in children.items():
            service[name] = index.get(ident, [])
        for link in service["service_at_locations"]:
            location = locations.get(link.get("location_id", ""))
            if location is not None:
                link["location"] = {**location, "addresses": addresses.get(location["id"], [])}
        service["attributes"] = [
            _attribute(a, terms, taxonomies) for a in attributes.get(ident, [])
        ]
        yield service


def _attribute(
    attribute: Record, terms: dict[str, Record], taxonomies: dict[str, Record]
) -> Record:
    term = terms.get(attribute.get("taxonomy_term_id", ""))
    if term is None:
        return attribute
    detail = taxonomies.get(term.get("taxonomy_id", ""))
    return {
        **attribute,
        "taxonomy_term": {**term, **({"taxonomy_detail": detail} if detail else {})},
    }
