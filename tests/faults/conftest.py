"""Fault tests' fixtures: a private PostgreSQL cluster they may stop, restart and crash.

The shared server on 127.0.0.1:5432 serves everybody's tests and is never touched here.
`private_cluster` runs initdb into a temporary directory and starts that cluster with
pg_ctl on a free loopback port (as the postgres user when we are root: initdb refuses
root), with PostGIS (installed system-wide, so any cluster of that major version has it)
and the schema migrated. It is stopped and deleted at the end. Without PostgreSQL
binaries (or PostGIS for them) the tests that need it are skipped, saying why.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from service.devdb import _pg_bin
from service.migrate import upgrade
from tests.perf.harness import free_port

DATABASE = "youthlink_faults"


@dataclass
class PrivateCluster:
    """A throwaway PostgreSQL cluster: its directory, port and a database URL."""

    pg_ctl: str
    root: Path
    port: int
    run_as: list[str]

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.run_as, self.pg_ctl, "-D", str(self.data), "-l", str(self.log), *args],
            check=True,
            cwd=self.root,  # the postgres user may not be able to enter our directory
            stdout=subprocess.DEVNULL,
        )

    def start(self) -> None:
        # After a crash PostgreSQL first fsyncs every file of the cluster, one by one;
        # syncfs does the same in one call per file system (seconds become a blink).
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c recovery_init_sync_method=syncfs"
        )
        self.ctl("-w", "-t", "60", "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        self.ctl("-w", "-t", "60", "-m", mode, "stop")

    def restart(self, mode: str = "fast") -> None:
        """pg_ctl restart: stop (terminating every session), then start with the same options."""
        self.ctl("-w", "-t", "60", "-m", mode, "restart")


def _cluster_or_skip() -> tuple[str, str, list[str]]:
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("fault tests need PostgreSQL's initdb and pg_ctl to run a private cluster")
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root without a postgres user: initdb refuses root")
        if not shutil.which("runuser"):
            pytest.skip("running as root without runuser to run initdb as postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    return initdb, pg_ctl, run_as


async def _prepare(cluster: PrivateCluster) -> None:
    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{cluster.port}/postgres")
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_available_extensions WHERE name='postgis'"):
            pytest.skip(f"PostGIS is not installed for the PostgreSQL of {cluster.pg_ctl}")
        await conn.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await conn.close()
    conn = await asyncpg.connect(cluster.dsn)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def private_cluster() -> Iterator[PrivateCluster]:
    initdb, pg_ctl, run_as = _cluster_or_skip()
    root = Path(tempfile.mkdtemp(prefix="youthlink-faults-"))
    if run_as:
        shutil.chown(root, "postgres")
    cluster = PrivateCluster(pg_ctl, root, free_port(), run_as)
    started = False
    try:
        subprocess.run(
            [*run_as, initdb, "-D", str(cluster.data), "-U", "postgres", "--auth=trust", "-N"],
            check=True,
            cwd=root,
            stdout=subprocess.DEVNULL,
        )
        cluster.start()
        started = True
        asyncio.run(_prepare(cluster))
        upgrade(cluster.url)
        yield cluster
    finally:
        if started:
            subprocess.run(
                [*run_as, pg_ctl, "-D", str(cluster.data), "-m", "immediate", "-w", "stop"],
                cwd=root,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        shutil.rmtree(root, ignore_errors=True)
