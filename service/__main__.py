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
        from service.bulk_load import analyze
        from service.catalog.seed import load_seed_file

        path = file or get_settings().seeds_dir / "norwalk.json"

        async def load(session: Any) -> Any:
            loaded = await load_seed_file(session, path)
            await analyze(session)
            return loaded

        summary = _in_transaction(load)
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
            # One rebuild for every search index, not a change per program.
            await conn.execute("INSERT INTO search_changes (program_id) VALUES (NULL)")
        finally:
            await conn.close()

    try:
        asyncio.run(main())
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _with_sessions(work: Callable[..., Awaitable[T]]) -> T:
    """Run `work(sessionmaker)` against the configured database."""
    from service.db import make_engine, make_sessionmaker

    async def main() -> T:
        engine = make_engine(get_settings())
        try:
            return await work(make_sessionmaker(engine))
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _meili_follower(sessions: Any) -> Any:
    """The Meilisearch follower when Meilisearch serves, else None (API processes follow
    the log for their embedded indexes themselves)."""
    from service.search.engines import make_engine as make_search_engine
    from service.search.engines import meili_follower

    settings = get_settings()
    if not settings.meili_url:
        return None
    return meili_follower(settings, sessions, make_search_engine(settings))


@app.command()
def worker(
    poll: Annotated[float, typer.Option(help="Seconds between polls for webhooks")] = 0.5,
    once: Annotated[bool, typer.Option(help="Do what is due, then exit")] = False,
) -> None:
    """Deliver webhooks, expire unanswered referrals, trim the search change log, and keep
    Meilisearch (when configured) current from the log, until stopped."""
    import logging.config
    import signal
    from datetime import timedelta

    from service import worker as worker_jobs
    from service.ops import logs

    settings = get_settings()
    logging.config.dictConfig(logs.config(settings.log_level))
    retention = timedelta(hours=settings.search_log_retention_hours)

    async def run(sessions: Any) -> None:
        search = _meili_follower(sessions)
        if once:
            step, delivered, housekept = await worker_jobs.run_once(sessions, search, retention)
            searched = (
                "search: embedded (API processes follow the log)"
                if step is None
                else f"search: {step.rebuilt if step.rebuilt is not None else step.programs} "
                f"programs to Meilisearch"
            )
            typer.echo(
                f"{searched}; webhooks: {delivered.sent} sent, {delivered.failed} failed; "
                f"{housekept.expired_referrals} referrals expired; "
                f"{housekept.trimmed_changes} change log rows trimmed"
            )
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        followed = "Meilisearch" if search is not None else "none (embedded: API processes)"
        typer.echo(f"worker: webhooks, expiry, log trimming; search follower: {followed}")
        await worker_jobs.run(sessions, search, poll_s=poll, log_retention=retention, stop=stop)

    _with_sessions(run)


@app.command()
def reindex() -> None:
    """Rebuild every search index from the catalog, with fresh planner statistics.

    Appends a rebuild request to the change log: each API process rebuilds its embedded
    index on its next step. With Meilisearch, the rebuild runs here, now, and is swapped
    in whole."""
    import time

    from service.bulk_load import after_bulk_load

    async def run(sessions: Any) -> str:
        async with sessions() as session, session.begin():
            await after_bulk_load(session, rebuild=True)
        search = _meili_follower(sessions)
        if search is None:
            return "rebuild requested: every API process rebuilds its embedded index now"
        started = time.perf_counter()
        step = await search.step()
        seconds = time.perf_counter() - started
        return f"reindexed {step.rebuilt or 0:,} programs in Meilisearch in {seconds:.1f} s"

    typer.echo(_with_sessions(run))


@app.command("search-status")
def search_status() -> None:
    """Print the change log's size and, with Meilisearch, its index and the worker's lag."""
    from sqlalchemy import text

    from service.search import changelog

    async def run(sessions: Any) -> dict[str, Any]:
        settings = get_settings()
        async with sessions() as session:
            logged = (
                await session.execute(
                    text(
                        "SELECT count(*) AS n, extract(epoch FROM now() - min(changed_at)) "
                        "AS age FROM search_changes"
                    )
                )
            ).one()
            out: dict[str, Any] = {
                "engine": "meilisearch" if settings.meili_url else "tantivy",
                "change_log": {"rows": logged.n, "oldest_age_seconds": logged.age},
            }
            if settings.meili_url:
                from service.search.engines import MEILI_CURSOR
                from service.search.engines import make_engine as make_search_engine

                row = (await session.execute(changelog.CURSOR_ROW, {"name": MEILI_CURSOR})).first()
                cursor = (row.snapshot or None) if row else None
                lag = await changelog.lag(session, cursor)
                stats = await make_search_engine(settings).stats()
                out |= {
                    "documents": stats.documents,
                    "pending_changes": lag.pending,
                    "oldest_pending_seconds": lag.oldest_age_seconds,
                    "last_error": row.last_error if row else None,
                }
        return out

    typer.echo(json.dumps(_with_sessions(run), indent=2, default=str))


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
