"""Which search backend serves: Meilisearch when YOUTHLINK_MEILI_URL is set, else postgres."""

from __future__ import annotations

from service.search.pg_backend import PostgresBackend
from service.search.port import SearchBackend
from service.search.text import load_synonyms
from service.settings import Settings


def make_backend(settings: Settings) -> SearchBackend:
    synonyms = load_synonyms(settings.search_synonyms_file)
    if settings.meili_url:
        from service.search.meili_backend import MeiliBackend

        return MeiliBackend.from_settings(settings, synonyms)
    return PostgresBackend(synonyms)
