"""What runs after a write commits (service/db.py `wrote`): every write's hooks, and the
catalog's (search's read-your-writes) only after a write to the catalog. A referral
write that changes a program's seats reaches search through the change log's poll, so
the next search after it does not wait for an index commit."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from starlette.requests import Request

from service.app import create_app
from service.db import CATALOG_WRITES, WRITES, wrote
from service.settings import Settings


def _request(method: str, path: str, state: SimpleNamespace) -> Request:
    app = SimpleNamespace(state=state)
    return Request({"type": "http", "method": method, "path": path, "headers": [], "app": app})


@pytest.mark.parametrize(
    ("method", "path", "every", "catalog"),
    [
        ("POST", "/programs", 1, 1),
        ("PATCH", "/programs/5ad14da3-5680-437a-8b35-ecf1920e09fa", 1, 1),
        ("POST", "/organizations", 1, 1),
        ("PUT", "/locations/5ad14da3-5680-437a-8b35-ecf1920e09fa", 1, 1),
        ("POST", "/hsds/import", 1, 1),
        ("POST", "/referrals", 1, 0),
        ("POST", "/referrals/5ad14da3-5680-437a-8b35-ecf1920e09fa/transitions", 1, 0),
        ("POST", "/consents/5ad14da3-5680-437a-8b35-ecf1920e09fa/revoke", 1, 0),
        ("GET", "/programs", 0, 0),
    ],
)
def test_catalog_hooks_run_after_catalog_writes_only(
    method: str, path: str, every: int, catalog: int
) -> None:
    calls = {"every": 0, "catalog": 0}
    state = SimpleNamespace(
        after_write=[lambda: calls.__setitem__("every", calls["every"] + 1)],
        after_catalog_write=[lambda: calls.__setitem__("catalog", calls["catalog"] + 1)],
    )
    wrote(_request(method, path, state))
    assert calls == {"every": every, "catalog": catalog}


# Writes that change no program's search document by themselves (a referral's seat
# change reaches search through the change log's poll).
NOT_CATALOG = ("/students", "/consents", "/referrals", "/webhook-endpoints", "/api-keys")


def test_every_write_operation_is_either_a_catalog_write_or_not(settings: Settings) -> None:
    """A new write route must be placed: a catalog write the writer's next search must
    read (CATALOG_WRITES), or one that is not."""
    document = create_app(settings).openapi()
    unplaced = [
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method in operations
        if method.upper() in WRITES and not path.startswith((*CATALOG_WRITES, *NOT_CATALOG))
    ]
    assert unplaced == []
