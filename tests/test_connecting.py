"""TLS to PostgreSQL: off on loopback unless asked for, as service/connecting.py says."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from service.connecting import tls_arguments
from service.db import make_engine
from service.reader import open_pool
from service.settings import Settings

LOCAL = "postgresql+asyncpg://u@127.0.0.1:5432/db"


@pytest.mark.parametrize(
    "url",
    [
        LOCAL,
        "postgresql+asyncpg://u@localhost/db",
        "postgresql+asyncpg://u@[::1]:5432/db",
        "postgresql+asyncpg://u@127.0.0.2/db",
        "postgresql+asyncpg://u@/db?host=/var/run/postgresql",
    ],
)
def test_loopback_connects_without_tls(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGSSLMODE", raising=False)
    assert tls_arguments(url) == {"ssl": False}


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://u@db.internal:5432/db",
        "postgresql+asyncpg://u@10.0.0.5/db",
        LOCAL + "?ssl=require",
        LOCAL + "?sslmode=verify-full",
    ],
)
def test_other_hosts_and_explicit_modes_are_left_alone(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGSSLMODE", raising=False)
    assert tls_arguments(url) == {}


def test_pgsslmode_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGSSLMODE", "require")
    assert tls_arguments(LOCAL) == {}


async def test_the_app_and_its_reads_pool_connect_in_clear(settings: Settings) -> None:
    """Both connection kinds of a worker, to this suite's loopback server (Debian's
    offers TLS, so `prefer` would have taken it)."""
    query = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
    engine = make_engine(settings)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text(query))).scalar_one() is False
    finally:
        await engine.dispose()
    pool = await open_pool(settings)
    try:
        assert await pool.fetchval(query) is False
    finally:
        await pool.close()
