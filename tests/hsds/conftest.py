"""The HSDS 3.0 schemas the repository carries (openapi/hsds/3.0, YOUTHLINK_HSDS_DIR).

The repository keeps the specification's modular schemas and the small compiled *_list
shapes, not the 8 MB compiled detail bundle. The compiled detail schemas are the modular
ones with two links added (an organization's `services`, a service at location's
`service`); `_COMPILED_LINKS` adds exactly those, so a detail validates as it would
against the bundle (tests/hsds/test_conformance.py checks that the links are checked).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from service.settings import Settings

BASE = "https://raw.githubusercontent.com/openreferral/specification/3.0/schema/"
# What the compiled bundle adds to the modular schema of the same name.
_COMPILED_LINKS: dict[str, dict[str, Any]] = {
    "organization.json": {"services": {"type": "array", "items": {"$ref": "service.json"}}},
    "service_at_location.json": {"service": {"$ref": "service.json"}},
}


@dataclass
class Schemas:
    directory: Path
    registry: Registry[Any]
    openapi: dict[str, Any]

    def validator(self, name: str) -> Draft202012Validator:
        """A validator for schema `name` (e.g. 'compiled/service_list.json', 'service.json')."""
        schema = self.registry.contents(BASE + name)
        return Draft202012Validator(schema, registry=self.registry, format_checker=FormatChecker())

    def page(self) -> Draft202012Validator:
        page = self.openapi["components"]["schemas"]["Page"]
        schema = {**page, "required": list(page["properties"])}
        return Draft202012Validator(schema, format_checker=FormatChecker())


@pytest.fixture(scope="session")
def hsds(settings: Settings) -> Schemas:
    directory = settings.hsds_dir
    if directory is None or not (directory / "schema").is_dir():
        pytest.skip(
            f"no HSDS 3.0 schemas in {directory} (YOUTHLINK_HSDS_DIR): the repository's "
            "openapi/hsds/3.0 is missing"
        )
    schema_dir = directory / "schema"
    resources = []
    for path in sorted(schema_dir.rglob("*.json")):
        name = path.relative_to(schema_dir).as_posix()
        if name == "openapi.json":
            continue
        contents = {**json.loads(path.read_text()), "$id": BASE + name}
        if name in _COMPILED_LINKS:
            contents["properties"] = {**contents["properties"], **_COMPILED_LINKS[name]}
        resources.append(
            (BASE + name, Resource.from_contents(contents, default_specification=DRAFT202012))
        )
    registry: Registry[Any] = Registry().with_resources(resources)
    openapi = json.loads((schema_dir / "openapi.json").read_text())
    return Schemas(directory, registry, openapi)


def errors_of(validator: Draft202012Validator, instance: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"[:300]
        for e in validator.iter_errors(instance)
    ]
