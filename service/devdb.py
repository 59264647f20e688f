"""Find or start a PostgreSQL + PostGIS for `make run` and `make test`.

Order: YOUTHLINK_DATABASE_URL if set; else a server on 127.0.0.1:5432; else, when the
PostgreSQL binaries are installed, a private cluster under .pgdata started with pg_ctl.
When PostGIS is missing on a local server and we are root on Debian, install
postgresql-<major>-postgis-3 (service/devdeps.py, once, under a lock); otherwise stop
with a message naming exactly what to install.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import socket
import subprocess
import sys

import asyncpg
from sqlalchemy.engine import make_url

from service.devdeps import MissingDependency, can_install, ensure_package
from service.settings import REPO_ROOT

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 5432
PRIVATE_PORT = 54329
PGDATA = REPO_ROOT / ".pgdata"


class DatabaseUnavailable(RuntimeError):
    pass


def _say(message: str) -> None:
    print(f"[youthlink] {message}", file=sys.stderr)


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def _start_private_cluster() -> str:
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        raise DatabaseUnavailable(
            "No PostgreSQL is reachable on 127.0.0.1:5432 and no PostgreSQL binaries are "
            "installed. Install PostgreSQL 15+ with PostGIS 3 (Debian/Ubuntu: "
            "`apt-get install postgresql postgresql-15-postgis-3`), or set "
            "YOUTHLINK_DATABASE_URL."
        )
    user = "postgres"
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        run_as = ["runuser", "-u", "postgres", "--"]
        PGDATA.mkdir(exist_ok=True)
        shutil.chown(PGDATA, "postgres")
    if not (PGDATA / "PG_VERSION").exists():
        _say(f"creating a private PostgreSQL cluster in {PGDATA}")
        subprocess.run(
            [*run_as, initdb, "-D", str(PGDATA), "-U", user, "--auth=trust"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    if not _port_open(DEFAULT_HOST, PRIVATE_PORT):
        _say(f"starting it on port {PRIVATE_PORT}")
        subprocess.run(
            [
                *run_as,
                pg_ctl,
                "-D",
                str(PGDATA),
                "-l",
                str(PGDATA / "server.log"),
                "-w",
                "-o",
                f"-p {PRIVATE_PORT} -k /tmp -c listen_addresses={DEFAULT_HOST}",
                "start",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return f"postgresql+asyncpg://{user}@{DEFAULT_HOST}:{PRIVATE_PORT}/postgres"


def server_url() -> str:
    """URL of a reachable server (database part not yet decided)."""
    configured = os.environ.get("YOUTHLINK_DATABASE_URL")
    if configured:
        return configured
    if _port_open(DEFAULT_HOST, DEFAULT_PORT):
        return f"postgresql+asyncpg://postgres@{DEFAULT_HOST}:{DEFAULT_PORT}/postgres"
    return _start_private_cluster()


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _postgis_available(url: str) -> tuple[bool, int]:
    conn = await asyncpg.connect(_dsn(url))
    try:
        available = await conn.fetchval(
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'"
        )
        major = int(await conn.fetchval("SHOW server_version_num")) // 10000
        return bool(available), major
    finally:
        await conn.close()


def ensure_postgis(url: str) -> None:
    available, major = asyncio.run(_postgis_available(url))
    if available:
        return
    package = f"postgresql-{major}-postgis-3"
    host = make_url(url).host or "localhost"
    if host in {"127.0.0.1", "localhost", "::1"} and can_install():
        try:
            ensure_package(
                package, lambda: asyncio.run(_postgis_available(url))[0], "the PostGIS extension"
            )
            return
        except (MissingDependency, subprocess.CalledProcessError) as exc:
            raise DatabaseUnavailable(f"Installing {package} failed: {exc}") from exc
    raise DatabaseUnavailable(
        f"The PostgreSQL {major} server at {host} has no PostGIS. Install it on that server "
        f"(Debian/Ubuntu: `sudo apt-get install {package}`; other systems: the PostGIS 3 "
        f"package for PostgreSQL {major}), then run this again."
    )


async def _create_database(url: str, name: str) -> None:
    conn = await asyncpg.connect(_dsn(url))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def ensure_database(name: str = "youthlink") -> str:
    """URL of database `name` on a reachable server with PostGIS; created if missing.

    With YOUTHLINK_DATABASE_URL set, that URL is used as it is.
    """
    if os.environ.get("YOUTHLINK_DATABASE_URL"):
        url = os.environ["YOUTHLINK_DATABASE_URL"]
        ensure_postgis(url)
        return url
    server = server_url()
    ensure_postgis(server)
    asyncio.run(_create_database(server, name))
    return make_url(server).set(database=name).render_as_string(hide_password=False)


__all__ = ["DatabaseUnavailable", "ensure_database", "server_url"]
