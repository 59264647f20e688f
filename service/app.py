"""create_app(): the ASGI application with its routers, error handlers and lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from pydantic import BaseModel

from service import __version__, openapi_doc
from service.audit.router import router as audit_router
from service.auth.key_cache import KeyCache
from service.catalog.org_router import router as organizations_router
from service.catalog.router import DIRECT as programs_direct
from service.catalog.router import router as programs_router
from service.catalog.totals import Totals
from service.consent.router import router as consents_router
from service.db import make_engine, make_sessionmaker
from service.errors import install_error_handlers
from service.geo.router import router as areas_router
from service.hsds.cors import OpenCors
from service.hsds.import_router import router as hsds_import_router
from service.hsds.router import router as hsds_router
from service.keys.router import router as keys_router
from service.metrics import columns
from service.metrics.router import router as metrics_router
from service.ops.context import RequestId
from service.ops.guard import Guard
from service.ops.prometheus import Timing
from service.ops.router import router as ops_router
from service.reader import Reader, connect, open_pool
from service.referrals.message_routes import router as referral_messages_router
from service.referrals.revocation import router as revocation_router
from service.referrals.router import DIRECT as referrals_direct
from service.referrals.router import router as referrals_router
from service.search.engines import serving
from service.search.router import DIRECT as search_direct
from service.search.router import EXTRA_COMPONENTS, EXTRA_SCHEMAS
from service.search.router import router as search_router
from service.settings import Settings, get_settings
from service.strict_query import reject_unknown_query
from service.students.router import router as students_router
from service.webhooks.router import router as webhooks_router
from service.widget.router import router as widget_router

log = logging.getLogger("youthlink")

DESCRIPTION = """
Youthlink is an open youth-services directory and closed-loop referral API for a
city's cradle-to-career partnership.

* **Authentication**: send an API key as `Authorization: Bearer yl_...`, or, as a person
  signed in with your organization's identity provider, its OpenID Connect token as
  `Authorization: Bearer <JWT>`. Anonymous callers read active programs and their
  organizations.
* **Errors** are `application/problem+json` (RFC 9457) with a stable `code`.
* **Lists** return the Open Referral HSDS 3.0 page envelope.
* **Concurrency**: single resources carry an `ETag`; send `If-Match` to make a write
  fail with 412 when someone changed the resource since you read it.
"""


class Health(BaseModel):
    status: str
    version: str


def _operation_id(route: APIRoute) -> str:
    return route.name


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings)
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine)
        reads = await open_pool(settings)
        app.state.reader = Reader(pool=reads, wait_s=settings.db_pool_timeout_s)
        app.state.search = search = serving(settings, app.state.sessionmaker, app.state.reader)
        app.state.after_catalog_write = [search.wrote]
        app.state.program_cache = search.program_cache(settings.program_cache_size)
        app.state.key_cache = key_cache = KeyCache()
        app.state.after_key_write = [key_cache.forget_all]
        listening = asyncio.create_task(
            key_cache.listen(lambda: connect(settings, "youthlink-keys"))
        )
        # Metrics hold their columns in memory, and the embedded search engine its index:
        # build them now, not on the first request.
        app.openapi()  # built now: the first request that checks its query would wait for it
        preloading = asyncio.create_task(columns.preload(app.state.sessionmaker))
        following = asyncio.create_task(search.follow())
        try:
            yield
        finally:
            search.stop()
            preloading.cancel()
            listening.cancel()
            await asyncio.gather(following, listening, return_exceptions=True)
            await reads.close()
            await engine.dispose()

    app = FastAPI(
        title="Youthlink",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        license_info={"name": "Apache-2.0", "identifier": "Apache-2.0"},
        dependencies=[Depends(reject_unknown_query)],
    )
    # Catalog list totals are kept briefly per process; this process's writes drop them.
    app.state.totals = Totals(settings.catalog_count_ttl_s)
    app.state.after_write = [app.state.totals.clear]
    app.add_middleware(Guard, settings=settings)  # inside CORS: a 429 is readable by browsers
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_allow_origins,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "If-Match",
            "Idempotency-Key",
            "Accept-Language",
            "X-Request-ID",
        ],
        expose_headers=["ETag", "Location", "X-Request-ID"],
    )
    app.add_middleware(OpenCors)  # outside CORS: /hsds is open whatever the allow-list
    app.add_middleware(Timing)
    app.add_middleware(RequestId)  # outermost: every log line of the request has its id
    install_error_handlers(app)
    for router in (
        organizations_router,
        programs_router,
        search_router,
        areas_router,
        students_router,
        audit_router,
        consents_router,
        revocation_router,
        referrals_router,
        referral_messages_router,
        webhooks_router,
        hsds_router,
        hsds_import_router,
        metrics_router,
        ops_router,
        keys_router,
        widget_router,
    ):
        app.include_router(router)
    # The busiest reads, matched before their documented operations (service/direct.py).
    app.router.routes[:0] = [*search_direct, *programs_direct, *referrals_direct]
    openapi_doc.install(app, EXTRA_SCHEMAS, EXTRA_COMPONENTS)

    @app.get("/health", operation_id="health", tags=["operations"], summary="Liveness")
    async def health() -> Health:
        """Answers 200 with `status: ok` and the running version whenever the process is up, without
        touching the database (see /ready for that). No API key needed.
        """
        return Health(status="ok", version=__version__)

    return app
