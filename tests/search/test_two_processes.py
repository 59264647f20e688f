"""Two API processes, each with its own embedded index, share nothing but PostgreSQL: an
edit through one is found by its next search (read your writes), and by the other within
about a second (both follow the change log)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from service.auth.roles import Role
from service.catalog.enums import OrganizationType
from tests.conftest import make_caller, make_org, make_test_database
from tests.perf.harness import api_processes

LAG_BOUND_S = 1.5  # "about a second": the poll interval (0.5 s) plus a rebuild's worth


@pytest.fixture(scope="module")
def two_apis(worker_id_safe: str) -> Iterator[tuple[str, str, dict[str, str]]]:
    url = make_test_database(f"{worker_id_safe}_two")

    async def provider() -> dict[str, str]:
        engine = create_async_engine(url, poolclass=NullPool)
        async with AsyncSession(engine) as session, session.begin():
            org = await make_org(session, OrganizationType.provider, "Two Towns Youth")
            caller = await make_caller(session, Role.provider, org)
        await engine.dispose()
        return caller.headers

    headers = asyncio.run(provider())
    with api_processes(url) as (first, second):
        yield first, second, headers


def _names(base: str, q: str) -> list[str]:
    found = httpx.get(f"{base}/search/programs", params={"q": q}, timeout=10)
    assert found.status_code == 200, found.text
    return [hit["name"] for hit in found.json()["contents"]]


def _seen_within(base: str, q: str, name: str, bound_s: float) -> float:
    started = time.monotonic()
    while name not in _names(base, q):
        if time.monotonic() - started > bound_s:
            pytest.fail(f"{base} did not find {name!r} within {bound_s} s")
        time.sleep(0.02)
    return time.monotonic() - started


def test_an_edit_through_one_process_is_found_through_both(
    two_apis: tuple[str, str, dict[str, str]],
) -> None:
    writer, other, headers = two_apis
    created = _create(writer, headers, "Kayak Club")
    assert _names(writer, "kayak") == ["Kayak Club"]  # its own write, at once
    lag = _seen_within(other, "kayak", "Kayak Club", LAG_BOUND_S)

    _rename(writer, headers, created, "Kayak and Canoe Club")
    assert _names(writer, "canoe") == ["Kayak and Canoe Club"]
    lag = max(lag, _seen_within(other, "canoe", "Kayak and Canoe Club", LAG_BOUND_S))
    print(f"\nthe other process found each edit {lag:.2f} s after it was acknowledged")

    gone = httpx.delete(f"{writer}/programs/{created.json()['id']}", headers=headers, timeout=10)
    assert gone.status_code == 204, gone.text
    assert _names(writer, "kayak") == []
    started = time.monotonic()
    while _names(other, "kayak"):
        assert time.monotonic() - started < LAG_BOUND_S, "the deletion did not reach the other"
        time.sleep(0.02)


def _create(base: str, headers: dict[str, str], name: str) -> httpx.Response:
    created = httpx.post(
        f"{base}/programs",
        json={"name": name, "category": "out_of_school_time"},
        headers=headers,
        timeout=10,
    )
    assert created.status_code == 201, created.text
    return created


def _rename(
    base: str, headers: dict[str, str], created: httpx.Response, name: str
) -> httpx.Response:
    renamed = httpx.patch(
        f"{base}/programs/{created.json()['id']}",
        json={"name": name},
        headers={**headers, "If-Match": created.headers["ETag"]},
        timeout=10,
    )
    assert renamed.status_code == 200, renamed.text
    return renamed


def _until(done: Callable[[], bool], what: str) -> None:
    """Wait until `done()`, at most LAG_BOUND_S."""
    started = time.monotonic()
    while not done():
        assert time.monotonic() - started < LAG_BOUND_S, f"not within {LAG_BOUND_S} s: {what}"
        time.sleep(0.02)


def _kept_reads(base: str) -> dict[str, float]:
    """The process's reads served from its kept program documents, and not (/metrics)."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    found = re.findall(r'^youthlink_program_cache_reads\{outcome="(\w+)"\} (\S+)$', text, re.M)
    return {outcome: float(n) for outcome, n in found}


def _read(base: str, program_id: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.get(f"{base}/programs/{program_id}", headers=headers or {}, timeout=10)


def test_a_program_read_without_a_key_follows_the_log_and_one_with_a_key_is_current(
    two_apis: tuple[str, str, dict[str, str]],
) -> None:
    """Each process keeps the public program documents it read (catalog/program_cache.py):
    the writer's own next read shows its edit, the other process's within the poll
    interval, and a keyed read through either is current at once."""
    writer, other, headers = two_apis
    created = _create(writer, headers, "Drumline")
    program_id = created.json()["id"]
    assert _read(writer, program_id).json()["name"] == "Drumline"  # kept by the writer
    _until(lambda: _read(other, program_id).status_code == 200, "the program reached the other")
    assert _read(other, program_id).json()["name"] == "Drumline"  # the other's, kept

    renamed = _rename(writer, headers, created, "Drumline and Brass")
    assert _read(writer, program_id).json()["name"] == "Drumline and Brass"
    keyed = _read(other, program_id, headers)
    assert keyed.json()["name"] == "Drumline and Brass"
    assert keyed.headers["ETag"] == renamed.headers["ETag"]
    _until(
        lambda: _read(other, program_id).json()["name"] == "Drumline and Brass",
        "the edit reached the other",
    )
    assert _read(other, program_id).headers["ETag"] == renamed.headers["ETag"]
    assert _kept_reads(other)["hit"] > 0  # the reads above were served from memory

    gone = httpx.delete(f"{writer}/programs/{program_id}", headers=headers, timeout=10)
    assert gone.status_code == 204, gone.text
    assert _read(writer, program_id).status_code == 404
    _until(lambda: _read(other, program_id).status_code == 404, "the deletion reached the other")
