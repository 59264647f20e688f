"""`python -m service import-hsds PATH` and `export-hsds`: HSDS files in and out."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer

from service.catalog.enums import Category
from service.settings import get_settings


def import_hsds(
    path: Annotated[
        Path, typer.Argument(help="HSDS JSON / ndjson file, or a tabular package (dir or .zip)")
    ],
    category: Annotated[
        Category, typer.Option(help="Category of services whose record names none")
    ] = Category.family_support,
) -> None:
    """Upsert HSDS 3.0 services by id; print created/updated/unchanged/rejected as JSON.

    Exits 1 when a record was rejected or the file broke off (the rest is imported)."""
    from service.db import make_engine, make_sessionmaker
    from service.hsds.importer import import_records
    from service.hsds.reader import records_from_path

    if not path.exists():
        typer.echo(f"error: {path} does not exist", err=True)
        raise typer.Exit(2)

    async def main() -> dict[str, object]:
        engine = make_engine(get_settings())
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                summary = await import_records(session, records_from_path(path), category)
        finally:
            await engine.dispose()
        return dataclasses.asdict(summary)

    summary = asyncio.run(main())
    typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
    if summary["rejected"] or summary["file_error"]:
        raise typer.Exit(1)


def export_hsds(
    output: Annotated[Path, typer.Argument(help="A .ndjson file, or a directory for CSV")],
    format: Annotated[str, typer.Option(help="ndjson | csv")] = "ndjson",
) -> None:
    """Write every active service as HSDS 3.0: ndjson (full services) or the CSV package."""
    from service.db import make_engine, make_sessionmaker
    from service.hsds.export import write_ndjson, write_package

    if format not in ("ndjson", "csv"):
        typer.echo("error: --format is ndjson or csv", err=True)
        raise typer.Exit(2)

    async def main() -> int:
        engine = make_engine(get_settings())
        try:
            async with make_sessionmaker(engine)() as session:
                if format == "csv":
                    return await write_package(session, output)
                with output.open("w", encoding="utf-8") as out:
                    return await write_ndjson(session, out)
        finally:
            await engine.dispose()

    count = asyncio.run(main())
    typer.echo(f"wrote {count} services to {output}")
