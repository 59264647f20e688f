"""Which search backend serves: Meilisearch when YOUTHLINK_MEILI_URL is set, else postgres."""

from __future__ import annotations

from service.search.cache import CachedBackend
from service.search.pg_backend import PostgresBackend
from service.search.port import SearchBackend
from service.search.text import load_synonyms
from service.settings import Settings


def make_backend(settings: Settings) -> SearchBackend:
    """The configured backend."""
    synonyms = load_synonyms(settings.search_synonyms_file)
    backend: SearchBackend
    if settings.meili_url:
        from service.search.meili_backend import MeiliBackend

        backend = MeiliBackend.from_settings(settings, synonyms)
    else:
        backend = PostgresBackend(synonyms)
    return backend


def serving_backend(settings: Settings) -> SearchBackend:
    """What the API searches: the configured backend behind the result cache (TTL 0: none)."""
    backend = make_backend(settings)
    if settings.search_cache_ttl_s > 0:
        return CachedBackend(backend, settings.search_cache_ttl_s, settings.search_cache_size)
    return backend
