"""Alembic environment: async engine, URL from settings (or the -x url=... override)."""

from __future__ import annotations

import asyncio
import base64

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from service.models import metadata
from service.settings import get_settings

config = context.config


def _pass_keys() -> None:
    """The PII keys, for the migrations that seal or open rows (see frozen.py)."""
    settings = get_settings()
    config.attributes.setdefault(
        "pii_keys",
        {k: base64.b64decode(v.get_secret_value()) for k, v in settings.pii_keys.items()},
    )
    config.attributes.setdefault("pii_active_key", settings.pii_active_key)


def _include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    # PostGIS owns spatial_ref_sys and the tiger/topology schemas.
    return not (type_ == "table" and name in {"spatial_ref_sys"})


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_object=_include_object,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


def main() -> None:
    _pass_keys()
    url = config.attributes.get("url") or get_settings().database_url
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    else:
        asyncio.run(_run_async(url))


if context.is_offline_mode():
    raise SystemExit("Offline migrations are not supported; run `python -m service migrate`.")
main()
