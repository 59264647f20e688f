"""Declarative base, engine, and the request's unit of work.

The transaction boundary is the request: services flush, never commit; the session
dependency (scope="function") commits once after the path operation returns and
BEFORE the response is sent, or rolls back when it raised.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from sqlalchemy import MetaData, event, func
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import DateTime, Enum

from service.connecting import tls_arguments
from service.reader import Reader
from service.settings import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {datetime: DateTime(timezone=True)}


class Timestamped:
    # Fetch server-side created_at/updated_at with RETURNING, so they never lazy-load.
    __mapper_args__ = {"eager_defaults": True}

    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class Versioned:
    """Optimistic concurrency: the row's version is its ETag; a stale write fails."""

    version: Mapped[int] = mapped_column(default=1, server_default="1")


def enum_column(cls: type[Any], name: str | None = None) -> Enum:
    """A StrEnum stored as its values in a VARCHAR with a CHECK (easy to extend, unlike
    native PostgreSQL enums). `name` names the CHECK when a table has two such columns of
    one enum."""
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=40,
        values_callable=lambda e: [m.value for m in e],
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


def rfc3339(value: datetime) -> str:
    """A time as every response writes it: UTC, with `Z` (as pydantic serializes one)."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def make_engine(settings: Settings, **overrides: Any) -> AsyncEngine:
    connect_args: dict[str, Any] = {
        "timeout": settings.db_connect_timeout_s,  # asyncpg's default waits 60 s
        "server_settings": {
            "application_name": "youthlink",
            "statement_timeout": str(settings.db_statement_timeout_ms),
        },
        **tls_arguments(settings.database_url),
    }
    options: dict[str, Any] = {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_timeout": settings.db_pool_timeout_s,
        # No ping before each use (a round trip per request): a connection found dead on
        # use is invalidated by SQLAlchemy, that request answers 503 to retry, and the pool
        # connects anew.
        "pool_pre_ping": False,
        "connect_args": connect_args,
        "json_deserializer": orjson.loads,  # json/jsonb columns, several per catalog read
    }
    options.update(overrides)
    engine = create_async_engine(settings.database_url, **options)
    event.listen(engine.sync_engine, "do_connect", _refused_is_a_database_error)
    return engine


def _refused_is_a_database_error(
    dialect: Dialect, record: Any, cargs: tuple[Any, ...], cparams: dict[str, Any]
) -> Any:
    """Connect; a socket error (refused, reset, timed out: PostgreSQL restarting or down)
    becomes the driver's OperationalError, so it surfaces as a DBAPIError like every other
    database failure (a 503, see service/errors.py) instead of a bare OSError (a 500).
    SQLAlchemy's async dialects do not wrap errors of the connect call itself yet
    (sqlalchemy/sqlalchemy#11956)."""
    try:
        return dialect.connect(*cargs, **cparams)
    except OSError as exc:
        raise dialect.loaded_dbapi.OperationalError(f"cannot connect: {exc!r}", exc) from exc


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@asynccontextmanager
async def unit_of_work(maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session, committed when the block ends and rolled back if it raises."""
    async with maker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request; commit when the path operation returned, else roll back.
    After a write commits, the callables in `app.state.after_write` run, and after a
    catalog write those in `app.state.after_catalog_write` (search uses it to make this
    process's next search read the write)."""
    async with unit_of_work(request.app.state.sessionmaker) as session:
        yield session
    wrote(request)


# The paths whose writes change what the search indexes hold (programs, their
# organizations and locations, an HSDS import). Other writes can change a program as a
# side effect (an enrolment takes a seat): those reach every index through the change
# log within search_poll_s, as another process's edits do.
CATALOG_WRITES = ("/programs", "/organizations", "/locations", "/hsds/")
# The paths whose writes change API keys (deleting an organization deletes its keys): the
# process forgets the keys it keeps at once, before the database's notification of the
# change reaches every process (service/auth/key_cache.py).
KEY_WRITES = ("/api-keys", "/organizations")


def wrote(request: Request) -> None:
    """Run `app.state.after_write` after a write request committed,
    `app.state.after_catalog_write` after a write to the catalog and
    `app.state.after_key_write` after one to API keys."""
    if request.method not in WRITES:
        return
    state = request.app.state
    for hook in getattr(state, "after_write", ()):
        hook()
    if request.url.path.startswith(CATALOG_WRITES):
        for hook in getattr(state, "after_catalog_write", ()):
            hook()
    if request.url.path.startswith(KEY_WRITES):
        for hook in getattr(state, "after_key_write", ()):
            hook()


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_reader(request: Request) -> Reader:
    """Hot reads on the driver (service/reader.py): the worker's reads pool, which the
    lifespan opens. (An app given only `sessionmaker`, as some tests build them, reads
    through sessions of that.)"""
    state = request.app.state
    reader: Reader | None = getattr(state, "reader", None)
    return reader if reader is not None else Reader(sessions=state.sessionmaker)


ReaderDep = Annotated[Reader, Depends(get_reader)]
