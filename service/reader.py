"""Hot statements on the driver: SQLAlchemy builds a statement and compiles it once per
shape; asyncpg runs the compiled text.

A SQLAlchemy execution costs several hundred microseconds of Python per statement
(the execution context, result metadata, row processing) on top of the driver's own
~0.2 ms. The catalog reads (service/catalog/reads.py) run thousands of times a second,
and the referral loop's reads and writes (referrals/reading.py, writes.py, creating.py;
the audit entry, the webhook outbox, Idempotency-Key) several statements a request, so
they skip that layer:

- `Prepared(build)` compiles `build(*key)` for asyncpg the first time a key is seen
  (the key is what the statement's *shape* depends on: the scoped principal, which
  filters are set) and keeps the SQL text with its parameter order. Values that vary
  per request (ids, filters, offsets) are `param`s, given at run time.
- `Reader` runs compiled statements on a connection of the worker's reads pool (plain
  asyncpg, `open_pool`; autocommit) or on a session's connection, inside its
  transaction (the request's unit of work, and the tests' transaction).

There is no ping before use: a connection found dead (PostgreSQL restarted) answers
that request 503 to retry (errors.Unavailable) and the pool replaces it.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import asyncpg
import orjson
from sqlalchemy import BindParameter, ColumnElement, Insert, bindparam, insert, select
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from service.connecting import tls_arguments
from service.errors import BUSY, Unavailable, database_refusal_of
from service.settings import Settings

DIALECT = asyncpg_dialect.dialect()  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class Compiled:
    """A statement's SQL with asyncpg's $n placeholders, the names of its parameters in
    $n order, and the values bound when it was built."""

    sql: str
    names: tuple[str, ...]
    fixed: Mapping[str, Any]

    def args(self, values: Mapping[str, Any]) -> list[Any]:
        return [_plain(values[n]) if n in values else self.fixed[n] for n in self.names]


def param(name: str, type_: Any = None) -> BindParameter[Any]:
    """A value given when the compiled statement runs (`Reader.fetch(..., name=value)`)."""
    return bindparam(name, type_=type_, required=False)


def column_params(
    table: Any, columns: Iterable[str], prefix: str = "v_"
) -> dict[str, BindParameter[Any]]:
    """INSERT or UPDATE values for these columns of `table`, given at run time as
    `column_values(...)` (named `<prefix><column>`: SQLAlchemy keeps a column's own name
    for itself in a VALUES or SET clause; statements joined in one WITH take a prefix
    each)."""
    return {c: param(f"{prefix}{c}", table.c[c].type) for c in columns}


def column_values(values: Mapping[str, Any], prefix: str = "v_") -> dict[str, Any]:
    """Run-time values (column -> value) for the params of `column_params`."""
    return {f"{prefix}{column}": value for column, value in values.items()}


def insert_row(
    table: Any, columns: Iterable[str], prefix: str, when: ColumnElement[bool] | None = None
) -> Insert:
    """INSERT of one row of these columns, its values given at run time as
    `column_values(..., prefix)`; with `when`, written only if that holds (a SELECT of
    the values WHERE `when`: a write joined to another in one WITH, conditional on it)."""
    params = column_params(table, columns, prefix)
    if when is None:
        return insert(table).values(**params)
    return insert(table).from_select(list(params), select(*params.values()).where(when))


def compile_statement(statement: ClauseElement) -> Compiled:
    """Compile for asyncpg; IN lists (scoping by organization) are written into the text."""
    compiled = statement.compile(dialect=DIALECT, compile_kwargs={"render_postcompile": True})
    assert isinstance(compiled, SQLCompiler)
    fixed = {name: _plain(value) for name, value in compiled.params.items()}
    return Compiled(str(compiled), tuple(compiled.positiontup or ()), fixed)


def _plain(value: Any) -> Any:
    """What asyncpg sends for a value bound at build time (an enum as its value)."""
    return value.value if isinstance(value, enum.Enum) else value


class Prepared:
    """A statement built by `build(*key)` and compiled once per key (at most `size` keys
    are kept; keys are small: a scope shape and which filters are set)."""

    def __init__(self, build: Callable[..., ClauseElement], size: int = 256) -> None:
        self.build = build
        self._compiled = lru_cache(maxsize=size)(self._compile)

    def _compile(self, *key: Hashable) -> Compiled:
        return compile_statement(self.build(*key))

    def __call__(self, *key: Hashable) -> Compiled:
        return self._compiled(*key)


class Reader:
    """Runs compiled statements, each on its own:

    - `pool`: on a connection of the worker's reads pool (`open_pool`), autocommit;
    - `session`: on that session's connection, in its transaction (the tests run every
      request in one transaction they roll back);
    - `sessions`: in a session of its own, committed (apps built without a lifespan)."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool | None = None,
        session: AsyncSession | None = None,
        sessions: Callable[[], Any] | None = None,
        wait_s: float = 10.0,
    ) -> None:
        if sum(x is not None for x in (pool, session, sessions)) != 1:
            raise ValueError("a Reader reads through one pool, session or sessionmaker")
        self._pool = pool
        self._session = session
        self._sessions = sessions
        self._wait_s = wait_s

    async def fetch(self, compiled: Compiled, **values: Any) -> Sequence[asyncpg.Record]:
        args = compiled.args(values)
        if self._pool is not None:
            return await _run(self._pooled(self._pool, compiled.sql, args))
        if self._session is not None:
            return await _run(_on(self._session, compiled.sql, args))
        assert self._sessions is not None
        async with self._sessions() as session:
            rows = await _run(_on(session, compiled.sql, args))
            await session.commit()
            return rows

    async def _pooled(self, pool: asyncpg.Pool, sql: str, args: list[Any]) -> Sequence[Any]:
        try:
            connection = await pool.acquire(timeout=self._wait_s)
        except TimeoutError:
            raise Unavailable(*BUSY, retry_after_s=1) from None
        try:
            rows: Sequence[asyncpg.Record] = await connection.fetch(sql, *args)
            return rows
        except _DRIVER_ERRORS as error:
            if _lost(error):
                connection.terminate()  # the pool opens a new one on demand
            raise
        finally:
            await pool.release(connection)

    async def fetchrow(self, compiled: Compiled, **values: Any) -> asyncpg.Record | None:
        rows = await self.fetch(compiled, **values)
        return rows[0] if rows else None


async def _on(session: AsyncSession, sql: str, args: list[Any]) -> Sequence[asyncpg.Record]:
    """Run on the session's connection, inside its transaction. SQLAlchemy's asyncpg
    adapter sends BEGIN lazily, with the first statement *it* runs: one run here first
    would run outside any transaction (a row lock released at once, a write that a
    rollback cannot undo), so the transaction is started here when it has not been.
    A connection found lost (PostgreSQL restarted) is invalidated, as SQLAlchemy does
    with a disconnect it sees itself, so the pool connects anew."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    adapter: Any = raw.dbapi_connection
    try:
        if adapter._transaction is None:
            try:
                await adapter._start_transaction()
            except Exception as error:  # the adapter's translation of the driver's error
                raise (error.__cause__ or error) from None  # the driver's own: _run maps it
        driver: Any = raw.driver_connection
        rows: Sequence[asyncpg.Record] = await driver.fetch(sql, *args)
        return rows
    except _DRIVER_ERRORS as error:
        if _lost(error):
            await connection.invalidate()
        raise


# What the driver raises when the database refuses or the connection breaks.
# InternalClientError: asyncpg found the connection mid-operation (the server ended the
# session under it, as a restart does).
_DRIVER_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
)


def _lost(error: BaseException) -> bool:
    """The connection is gone (or in an unknown state): it must not be used again."""
    state = getattr(error, "sqlstate", None) or ""
    return state.startswith(("08", "57P")) or not isinstance(error, asyncpg.PostgresError)


async def _run(work: Awaitable[Sequence[asyncpg.Record]]) -> Sequence[asyncpg.Record]:
    """`work`, with the database refusing for now (timeout, restart, refused or broken
    connection) turned into a 503 to retry; any other error stays a 500."""
    try:
        return await work
    except _DRIVER_ERRORS as error:
        refusal = database_refusal_of(error, lost=_lost(error))
        if refusal is None:
            raise  # a bug in the statement: a 500, loudly
        raise Unavailable(*refusal) from error


async def open_pool(settings: Settings) -> asyncpg.Pool:
    """The reads pool of a worker: `db_read_pool_size` connections to the same database,
    opened on demand. Reads leave no session state behind (no SET, LISTEN or locks), so
    a connection goes back without asyncpg's reset round trip."""
    pool: asyncpg.Pool = await asyncpg.create_pool(
        _dsn(settings),
        min_size=0,
        max_size=settings.db_read_pool_size,
        timeout=settings.db_connect_timeout_s,
        init=_json_codecs,
        reset=_nothing_to_reset,
        server_settings={
            "application_name": "youthlink-reads",
            "statement_timeout": str(settings.db_statement_timeout_ms),
        },
        **tls_arguments(settings.database_url),
    )
    return pool


def _dsn(settings: Settings) -> str:
    """The database URL as asyncpg takes it."""
    url = make_url(settings.database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


async def connect(settings: Settings, application_name: str) -> asyncpg.Connection:
    """One connection of its own to the database (the key cache listens on one)."""
    connection: asyncpg.Connection = await asyncpg.connect(
        _dsn(settings),
        timeout=settings.db_connect_timeout_s,
        server_settings={"application_name": application_name},
        **tls_arguments(settings.database_url),
    )
    return connection


async def _json_codecs(connection: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        await connection.set_type_codec(
            kind, schema="pg_catalog", encoder=_dumps, decoder=orjson.loads, format="text"
        )


def _dumps(value: Any) -> str:
    """A JSON parameter: JSON text as it is (what a session's connection takes, so one
    compiled statement runs on either), any other value encoded."""
    return value if isinstance(value, str) else orjson.dumps(value).decode()


async def _nothing_to_reset(connection: asyncpg.Connection) -> None:
    return None
