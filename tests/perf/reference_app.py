"""The reference the read benchmark compares Youthlink with: a bare FastAPI + asyncpg app
serving the same reads with the same SQL, and nothing else (no auth, no middleware, no
validation: each program's stored document is sent as it comes).

    YOUTHLINK_DATABASE_URL=... uvicorn tests.perf.reference_app:app --workers 2

The statements are the ones service/catalog/reads.py runs for an anonymous caller,
compiled by SQLAlchemy for asyncpg, so both apps send PostgreSQL the same text.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI, Response
from sqlalchemy.engine import make_url

from service.auth.principal import ANONYMOUS
from service.catalog.reads import PROGRAM, PROGRAMS
from service.connecting import tls_arguments

# The compiled statements Youthlink runs for an anonymous caller (text and parameter
# order), as service/reader.py sends them to asyncpg.
ONE = PROGRAM(ANONYMOUS)
LIST = PROGRAMS(ANONYMOUS)
LIST_ARGS = LIST.args({"offset": 0, "limit": 20})


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    given = os.environ["YOUTHLINK_DATABASE_URL"]
    url = make_url(given).set(drivername="postgresql")
    app.state.pool = await asyncpg.create_pool(  # connected as Youthlink connects
        url.render_as_string(hide_password=False),
        min_size=10,
        max_size=10,
        **tls_arguments(given),
    )
    yield
    await app.state.pool.close()


app = FastAPI(lifespan=lifespan)


@app.get("/programs/{program_id}")
async def program(program_id: uuid.UUID) -> Response:
    row = await app.state.pool.fetchrow(ONE.sql, *ONE.args({"program_id": program_id}))
    if row is None:
        return Response(status_code=404)
    return Response(row["body"], media_type="application/json")


@app.get("/programs")
async def programs() -> Response:
    rows = await app.state.pool.fetch(LIST.sql, *LIST_ARGS)
    body = "[" + ",".join(r["body"] for r in rows) + "]"
    return Response(body, media_type="application/json")
