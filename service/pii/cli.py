"""`python -m service rotate-key`, `purge` and `new-pii-key`: PII keys and retention."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from service.settings import get_settings


def _with_session(work: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
    """Run `work` with a session that commits batch by batch itself."""
    from service.db import make_engine, make_sessionmaker

    async def main() -> Any:
        engine = make_engine(get_settings())
        try:
            async with make_sessionmaker(engine)() as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _echo(result: Any) -> None:
    typer.echo(json.dumps(dataclasses.asdict(result), default=str, indent=2))


def rotate_key() -> None:
    """Re-seal every student and consent sealed by an older key under the active key."""
    from service.pii.rotate import rotate
    from service.sealing.keyring import keyring

    ring = keyring()
    typer.echo(f"active key: {ring.active_id}; keyring: {', '.join(ring.ids)}", err=True)
    _echo(_with_session(lambda session: rotate(session, ring)))


def purge(
    days: Annotated[
        int | None,
        typer.Option(min=1, help="Retention in days (default YOUTHLINK_PII_RETENTION_DAYS)"),
    ] = None,
) -> None:
    """Erase the PII of students whose last referral closed more than the retention ago."""
    from service.pii.purge import purge as run

    retention = days or get_settings().pii_retention_days
    _echo(_with_session(lambda session: run(session, retention)))


def new_pii_key() -> None:
    """Print a fresh random secret for YOUTHLINK_PII_KEYS."""
    from service.sealing.keyring import new_secret

    typer.echo(new_secret())
