"""The Meilisearch engine (meilisearch-python; serves when YOUTHLINK_MEILI_URL is set).

The client is synchronous, so every call runs in a worker thread, never on the event loop.
Writes wait for their Meilisearch task to succeed before the worker's follower moves its
cursor (service/search/follower.py), so a change is applied at least once.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

import anyio.to_thread
import meilisearch

from service.search.document import SearchDocument
from service.search.filters import Facet
from service.search.hits import fixed_json, nearest, sites
from service.search.meili import mapping as m
from service.search.port import (
    FacetValue,
    Hit,
    IndexStats,
    SearchResult,
    SearchUnavailable,
    facet_order,
    ordered_facets,
    render_highlight,
)
from service.search.query import SearchQuery
from service.search.stopwords import STOP_WORDS
from service.search.text import Synonyms
from service.settings import Settings

T = TypeVar("T")
TASK_TIMEOUT_MS = 120_000
# The server did not answer. Reads turn these into a 503; the worker keeps the original
# in the outbox's last_error and retries later.
UNREACHABLE = (
    meilisearch.errors.MeilisearchCommunicationError,
    meilisearch.errors.MeilisearchTimeoutError,
)


class SearchSyncError(RuntimeError):
    """Meilisearch did not apply a write."""


class MeiliRebuild:
    """A new Meilisearch index, filled, then swapped with the live one."""

    def __init__(self, engine: MeiliEngine, uid: str) -> None:
        self.engine = engine
        self.uid = uid

    async def add(self, documents: Sequence[SearchDocument]) -> None:
        await self.engine._call(self.engine._write, self.uid, documents, [])

    async def finish(self) -> None:
        await self.engine._call(self.engine._swap, self.uid)

    async def abort(self) -> None:
        await self.engine._call(self.engine.client.delete_index, self.uid)


class MeiliEngine:
    name = "meilisearch"

    def __init__(self, client: meilisearch.Client, index: str, synonyms: Synonyms) -> None:
        self.client = client
        self.index = index
        self.settings = m.settings(synonyms, STOP_WORDS)
        self._ready = False

    @classmethod
    def from_settings(cls, settings: Settings, synonyms: Synonyms) -> MeiliEngine:
        assert settings.meili_url
        client = meilisearch.Client(
            settings.meili_url, settings.meili_master_key, timeout=int(settings.meili_timeout_s)
        )
        return cls(client, settings.meili_index, synonyms)

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs))

    # ------------------------------------------------------------------ tasks and indexes

    def _wait(self, task: Any) -> None:
        done = self.client.wait_for_task(task.task_uid, timeout_in_ms=TASK_TIMEOUT_MS)
        if done.status != "succeeded":
            raise SearchSyncError(f"Meilisearch task {done.uid} {done.status}: {done.error}")

    def _create_index(self, uid: str) -> None:
        """The index, with our settings. Settings are sent only when they differ: even an
        identical update makes Meilisearch re-index (tens of seconds at 100,000 programs)."""
        try:
            current = self.client.index(uid).get_settings()
        except meilisearch.errors.MeilisearchApiError as exc:
            if exc.code != "index_not_found":
                raise
            self._wait(self.client.create_index(uid, {"primaryKey": "id"}))
            current = {}
        if m.settings_differ(current, self.settings):
            self._wait(self.client.index(uid).update_settings(self.settings))

    async def _ensure_live(self) -> None:
        """For writes only: searching never changes the index (an API process that did
        would make Meilisearch re-index under load)."""
        if not self._ready:
            await self._call(self._create_index, self.index)
            self._ready = True

    # ------------------------------------------------------------------ reading

    async def search(self, query: SearchQuery) -> SearchResult:
        try:
            return await self._search(query)
        except UNREACHABLE as exc:
            raise SearchUnavailable() from exc

    async def _search(self, query: SearchQuery) -> SearchResult:
        extra = m.facet_requests(self.index, query)
        queries = [m.search_request(self.index, query), *[r for _, _, r in extra]]
        results = (await self._call(self.client.multi_search, queries))["results"]
        main = results[0]
        return SearchResult(
            hits=[self._hit(h, query) for h in main["hits"]],
            total=int(main.get("totalHits", 0)),
            facets=self._facets(query, main, list(zip(extra, results[1:], strict=True))),
        )

    def _hit(self, raw: dict[str, Any], q: SearchQuery) -> Hit:
        spanish = q.language == "es" and bool(raw.get("name_es"))
        formatted = raw.get("_formatted", {})
        suffix = "_es" if spanish else ""
        name = raw[f"name{suffix}"]
        description = raw.get(f"description{suffix}") or raw["description"]
        highlights = {}
        for key in ("name", "description"):
            if (rendered := render_highlight(formatted.get(f"{key}{suffix}"))) is not None:
                highlights[key] = rendered
        site, distance = nearest(sites(raw["display"]), q.near)
        return Hit(
            program_id=uuid.UUID(raw["program_id"]),
            fixed=fixed_json(raw["display"]),
            name=name,
            description=description,
            language="es" if spanish else "en",
            site=site,
            distance_m=distance,
            highlights=highlights,
        )

    def _facets(
        self,
        q: SearchQuery,
        main: dict[str, Any],
        extra: list[tuple[tuple[Facet, str | None, dict[str, Any]], dict[str, Any]]],
    ) -> dict[Facet, list[FacetValue]]:
        counts: dict[Facet, dict[str, int]] = {f: {} for f in q.facets}
        for facet in q.facets:
            attribute = m.FACET_ATTRIBUTE[facet]
            counts[facet].update(main.get("facetDistribution", {}).get(attribute, {}))
        for (facet, value, _), result in extra:
            if value is not None:
                if result.get("totalHits"):
                    counts[facet][value] = int(result["totalHits"])
            else:
                attribute = m.FACET_ATTRIBUTE[facet]
                counts[facet].update(result.get("facetDistribution", {}).get(attribute, {}))
        return {f: ordered_facets(c, facet_order(f)) for f, c in counts.items()}

    # ------------------------------------------------------------------ writing

    def _write(
        self, uid: str, documents: Sequence[SearchDocument], removed: Sequence[uuid.UUID]
    ) -> None:
        index = self.client.index(uid)
        if documents:
            rows = [row for doc in documents for row in m.documents(doc)]
            self._wait(index.add_documents(rows, primary_key="id"))
        # Sites a program no longer has, and programs no longer searchable.
        stale = [
            f"(program_id = {m.quote(str(d.program_id))} AND site >= {max(len(d.points), 1)})"
            for d in documents
        ]
        if removed:
            stale.append(f"program_id IN [{', '.join(m.quote(str(r)) for r in removed)}]")
        if stale:
            self._wait(index.delete_documents(filter=" OR ".join(stale)))

    async def apply(
        self, documents: Sequence[SearchDocument], removed: Sequence[uuid.UUID]
    ) -> None:
        await self._ensure_live()
        await self._call(self._write, self.index, documents, removed)

    async def rebuild(self) -> MeiliRebuild:
        await self._ensure_live()
        uid = f"{self.index}_rebuild_{int(time.time())}"
        await self._call(self._create_index, uid)
        return MeiliRebuild(self, uid)

    def _swap(self, uid: str) -> None:
        self._wait(self.client.swap_indexes([{"indexes": [self.index, uid]}]))
        self._wait(self.client.delete_index(uid))  # after the swap it holds the old documents

    async def stats(self) -> IndexStats:
        try:
            await self._ensure_live()
            result = await self._call(
                self.client.index(self.index).search, "", {"hitsPerPage": 0, "page": 1}
            )
        except UNREACHABLE as exc:
            raise SearchUnavailable() from exc
        return IndexStats(backend=self.name, documents=int(result.get("totalHits", 0)))
