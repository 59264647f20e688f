"""The search contract suite's world: its own committed database, indexed by each engine.

`tantivy` (the embedded engine) always runs. `meilisearch` runs when YOUTHLINK_MEILI_URL
names a live server (a throwaway index per test worker; YOUTHLINK_MEILI_MASTER_KEY its
key) and is skipped otherwise, saying so: no Meilisearch server runs in CI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from service.app import create_app
from service.catalog.models import Location
from service.geo.service import load_directory
from service.search.engines import Searching, meili_follower, serving
from service.search.schemas import SearchPage
from service.settings import Settings
from tests.conftest import MEILI_URL, geodata_dir, make_test_database
from tests.search.catalog import Built, build_catalog


@dataclass
class SearchWorld:
    searching: Searching
    client: httpx.AsyncClient
    built: Built
    zips: dict[str, str | None]  # site key -> ZCTA assigned by the database

    async def search(self, **params: Any) -> dict[str, Any]:
        headers = params.pop("headers", {})
        response = await self.client.get("/search/programs", params=params, headers=headers)
        assert response.status_code == 200, response.text
        body = dict(response.json())
        # Hits are written without the models (service/search/service.py): every answer
        # must still be exactly what the SearchPage schema would write.
        assert SearchPage.model_validate(body).model_dump(mode="json") == body
        return body

    async def keys(self, **params: Any) -> list[str]:
        body = await self.search(per_page=100, **params)
        return [self.built.key_of(hit["id"]) for hit in body["contents"]]


@pytest.fixture(scope="session")
def search_database(worker_id_safe: str) -> str:
    return make_test_database(f"{worker_id_safe}_search")


@pytest.fixture(scope="session", params=["tantivy", "meilisearch"])
async def world(
    request: pytest.FixtureRequest, search_database: str, settings: Settings, worker_id_safe: str
) -> AsyncIterator[SearchWorld]:
    overrides: dict[str, Any] = {"database_url": search_database}
    if request.param == "meilisearch":
        url = MEILI_URL
        if not url:
            pytest.skip("meilisearch contract: set YOUTHLINK_MEILI_URL to a live server to run it")
        overrides |= {"meili_url": url, "meili_index": f"yl_test_{worker_id_safe}"}
    else:
        overrides |= {"meili_url": None}
    world_settings = settings.model_copy(update=overrides)
    engine = create_async_engine(search_database, poolclass=NullPool)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session, session.begin():
        if not await session.scalar(select(Location.id).limit(1)):
            await load_directory(session, geodata_dir(settings))
            built = await build_catalog(session)
        else:
            built = await _existing(session)
        zips = {
            key: await session.scalar(select(Location.zcta).where(Location.id == site))
            for key, site in built.sites.items()
        }
    searching = serving(world_settings, sessions)
    if searching.follower is None:  # Meilisearch: the worker's follower builds its index
        await meili_follower(world_settings, sessions, searching.engine).step()
    else:
        await searching.follower.step()
    app = create_app(world_settings)
    app.state.engine = engine
    app.state.sessionmaker = sessions
    app.state.search = searching
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield SearchWorld(searching, client, built, zips)
    await engine.dispose()


async def _existing(session: AsyncSession) -> Built:
    """The catalog built by the first engine's fixture (both engines share one database)."""
    from service.catalog.models import Program
    from tests.search.catalog import SPECS

    names = {s.name: s.key for s in SPECS}
    rows = (await session.execute(select(Program.id, Program.name))).all()
    sites = (await session.execute(select(Location.id, Location.name))).all()
    return Built(
        ids={names[r.name]: r.id for r in rows if r.name in names},
        sites={
            ("VIRTUAL" if r.name == "Online" else r.name.upper()): r.id
            for r in sites
            if r.name in ("Green", "Sono", "Far", "Online")
        },
    )
