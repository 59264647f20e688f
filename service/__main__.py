"""Command line: python -m service <command>. `python -m service --help` lists them."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.roles import Role
from service.hsds import cli as hsds_cli
from service.pii import cli as pii_cli
from service.settings import REPO_ROOT, get_settings

app = typer.Typer(
    help="Youthlink: youth-services directory and referral API.",
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    add_completion=False,
)
keys_app = typer.Typer(help="Issue and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

T = TypeVar("T")


def _in_transaction(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one transaction on the configured database, committed on success."""
    from service.db import make_engine, make_sessionmaker

    async def main() -> T:
        engine = make_engine(get_settings())
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(main())


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    reload: bool = False,
    workers: int = 1,
) -> None:
    """Serve the API with uvicorn (interactive docs at /docs); logs are JSON lines."""
    import uvicorn

    from service.ops import logs

    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=host,
        port=port,
        reload=reload,
        workers=workers,
        log_config=logs.config(get_settings().log_level),
    )


@app.command()
def migrate(revision: str = "head") -> None:
    """Apply database migrations (Alembic)."""
    from service.migrate import upgrade

    upgrade(get_settings().database_url, revision)
    typer.echo(f"database migrated to {revision}")


@app.command("dev-db")
def dev_db(name: str = "youthlink") -> None:
    """Find or start PostgreSQL + PostGIS, create database NAME, print its URL."""
    from service.devdb import DatabaseUnavailable, ensure_database

    try:
        typer.echo(ensure_database(name))
    except DatabaseUnavailable as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command("dev-deps")
def dev_deps(browser: bool = True) -> None:
    """Check (and as root on Debian, install once) what `make test` needs: a PostgreSQL
    server with PostGIS and, with --browser, Debian's chromium."""
    from service.devdb import DatabaseUnavailable, ensure_postgis, server_url
    from service.devdeps import MissingDependency, ensure_chromium

    try:
        ensure_postgis(server_url())
        if browser:
            ensure_chromium()
    except (DatabaseUnavailable, MissingDependency) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command("load-geodata")
def load_geodata(
    directory: Annotated[Path | None, typer.Argument(help="Default: YOUTHLINK_GEODATA_DIR")] = None,
) -> None:
    """Load city boundary, tracts, ZIP areas and schools from GeoJSON or TIGER/Line zips."""
    from service.geo.loader import GeodataError
    from service.geo.service import load_directory

    settings = get_settings()
    directory = directory or settings.geodata_dir
    if directory is None or not directory.is_dir():
        typer.echo(
            "No geodata directory: pass DIR or set YOUTHLINK_GEODATA_DIR "
            "(see geodata/README.md). The service runs without geodata.",
            err=True,
        )
        raise typer.Exit(2)
    try:
        summary = _in_transaction(lambda s: load_directory(s, directory, settings.city_geoid))
    except GeodataError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    areas = ", ".join(f"{n} {kind}" for kind, n in sorted(summary.areas.items()))
    typer.echo(
        f"loaded {areas or 'no areas'}; {summary.schools} schools; "
        f"{summary.locations_labelled} locations labelled with tract and ZIP"
    )
    if summary.skipped:
        typer.echo(f"skipped (not a known layer): {', '.join(summary.skipped)}")


@app.command()
def seed(
    synthetic: Annotated[int | None, typer.Option(help="Generate N synthetic programs")] = None,
    random_seed: Annotated[int, typer.Option(help="RNG seed of --synthetic")] = 42,
    clear_synthetic: Annotated[bool, typer.Option(help="Delete synthetic rows first")] = False,
    file: Annotated[Path | None, typer.Option(help="Seed file")] = None,
) -> None:
    """Load the sample Norwalk catalog (idempotent), or N synthetic programs (bulk COPY)."""
    if synthetic is None and not clear_synthetic:
        from service.catalog.seed import load_seed_file

        path = file or get_settings().seeds_dir / "norwalk.json"
        summary = _in_transaction(lambda s: load_seed_file(s, path))
        typer.echo(
            f"seeded {summary.organizations} organizations, {summary.locations} "
            f"locations, {summary.programs} programs, {summary.taxonomy_terms} terms "
            f"from {path}"
        )
        return
    _synthetic(synthetic, random_seed, clear_synthetic)


def _synthetic(n: int | None, random_seed: int, clear_first: bool) -> None:
    import time

    import asyncpg
    from sqlalchemy.engine import make_url

    from service.catalog import synthetic as gen

    dsn = make_url(get_settings().database_url).set(drivername="postgresql")

    async def main() -> None:
        conn = await asyncpg.connect(dsn.render_as_string(hide_password=False))
        try:
            async with conn.transaction():
                if clear_first:
                    typer.echo(f"removed {await gen.clear(conn)} synthetic organizations")
                if n:
                    started = time.perf_counter()
                    made = await gen.generate(conn, n, random_seed)
                    typer.echo(
                        f"generated {made.programs:,} programs, {made.organizations:,} "
                        f"organizations, {made.locations:,} locations in "
                        f"{time.perf_counter() - started:.1f} s"
                    )
            await conn.execute("ANALYZE")
        finally:
            await conn.close()

    try:
        asyncio.run(main())
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _with_search(work: Callable[..., Awaitable[T]]) -> T:
    """Run `work(sessionmaker, backend)` against the configured database and backend."""
    from service.db import make_engine, make_sessionmaker
    from service.search.backends import make_backend

    async def main() -> T:
        settings = get_settings()
        engine = make_engine(settings)
        try:
            return await work(make_sessionmaker(engine), make_backend(settings))
        finally:
            await engine.dispose()

    return asyncio.run(main())


@app.command()
def worker(
    poll: Annotated[float, typer.Option(help="Seconds between polls of an empty outbox")] = 0.5,
    batch: Annotated[int, typer.Option(min=1, max=5000, help="Outbox rows per batch")] = 500,
    once: Annotated[bool, typer.Option(help="Drain what is due, then exit")] = False,
) -> None:
    """Sync the search index, deliver webhooks, expire unanswered referrals, until stopped."""
    import logging.config
    import signal

    from service import worker as worker_jobs
    from service.ops import logs

    logging.config.dictConfig(logs.config(get_settings().log_level))

    async def run(sessions: Any, backend: Any) -> None:
        if once:
            drained, delivered, housekept = await worker_jobs.run_once(sessions, backend, batch)
            typer.echo(
                f"applied {drained.rows} search outbox rows "
                f"({drained.upserted} upserted, {drained.removed} removed); "
                f"webhooks: {delivered.sent} sent, {delivered.failed} failed; "
                f"{housekept.expired_referrals} referrals expired"
            )
            if drained.failed:
                raise typer.Exit(1)
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        typer.echo(f"worker: search ({backend.name}), webhooks, expiry; polling every {poll} s")
        await worker_jobs.run(sessions, backend, poll_s=poll, batch_size=batch, stop=stop)

    _with_search(run)


@app.command()
def reindex(
    batch: Annotated[int, typer.Option(min=1, max=10000, help="Programs per batch")] = 1000,
) -> None:
    """Rebuild the search index from the catalog and make it live atomically."""
    from service.search import sync

    async def run(sessions: Any, backend: Any) -> sync.Reindexed:
        return await sync.reindex(sessions, backend, batch)

    done = _with_search(run)
    typer.echo(f"reindexed {done.documents:,} programs in {done.seconds:.1f} s")


@app.command("search-status")
def search_status() -> None:
    """Print the search backend, its document count and the outbox lag as JSON."""
    from service.search import sync

    async def run(sessions: Any, backend: Any) -> dict[str, Any]:
        async with sessions() as session:
            stats = await backend.stats(session)
            lag = await sync.lag(session)
        return {"backend": stats.backend, "documents": stats.documents, "outbox": lag.model_dump()}

    typer.echo(json.dumps(_with_search(run), indent=2))


@app.command("seed-referrals")
def seed_referrals(
    n: Annotated[int, typer.Argument(help="How many referrals (up to 2,000,000)")],
    random_seed: Annotated[int, typer.Option(help="RNG seed")] = 7,
) -> None:
    """Generate N synthetic referrals (students, consents, referrals) for metrics benchmarks."""
    import time

    import asyncpg
    from sqlalchemy.engine import make_url

    from service.referrals import synthetic

    dsn = make_url(get_settings().database_url).set(drivername="postgresql")

    async def main() -> synthetic.Generated:
        conn = await asyncpg.connect(dsn.render_as_string(hide_password=False))
        try:
            async with conn.transaction():
                made = await synthetic.generate(conn, n, random_seed)
            await conn.execute("ANALYZE students, consents, referrals")
            return made
        finally:
            await conn.close()

    started = time.perf_counter()
    try:
        made = asyncio.run(main())
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(
        f"generated {made.referrals:,} referrals of {made.students:,} students at "
        f"{made.schools} schools in {time.perf_counter() - started:.1f} s"
    )


app.command("import-hsds")(hsds_cli.import_hsds)
app.command("export-hsds")(hsds_cli.export_hsds)
app.command("rotate-key")(pii_cli.rotate_key)
app.command("purge")(pii_cli.purge)
app.command("new-pii-key")(pii_cli.new_pii_key)


@app.command()
def openapi(
    output: Annotated[Path, typer.Option(help="Where to write")] = REPO_ROOT
    / "openapi"
    / "openapi.json",
) -> None:
    """Write the OpenAPI document (openapi/openapi.json)."""
    from service.app import create_app

    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(create_app().openapi(), indent=2, ensure_ascii=False) + "\n")
    typer.echo(f"wrote {output}")


@keys_app.command("create")
def keys_create(
    role: Annotated[Role, typer.Option(help="admin | provider | school | analyst | partner_app")],
    org: Annotated[str | None, typer.Option(help="Organization id (all roles but admin)")] = None,
    name: Annotated[str, typer.Option(help="What the key is for")] = "created from the CLI",
) -> None:
    """Issue an API key and print it (shown once)."""
    import uuid

    from service.errors import AppError
    from service.keys.service import create_key

    try:
        org_id = uuid.UUID(org) if org else None
    except ValueError as exc:
        typer.echo(f"error: --org must be an organization id (a UUID), not {org!r}", err=True)
        raise typer.Exit(2) from exc
    try:
        row, token = _in_transaction(
            lambda s: create_key(s, name=name, role=role, organization_id=org_id)
        )
    except AppError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(token)
    typer.echo(
        f"(key {row.id}, role {row.role.value}; store it now: it is not shown again)", err=True
    )


@keys_app.command("revoke")
def keys_revoke(key: Annotated[str, typer.Argument(help="Key id or visible prefix")]) -> None:
    """Revoke a key at once."""
    from service.errors import AppError
    from service.keys.service import revoke_key

    try:
        row = _in_transaction(lambda s: revoke_key(s, key))
    except AppError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"revoked {row.prefix} ({row.id})")


if __name__ == "__main__":
    sys.exit(app())
