"""Query words -> tsquery text for the postgres backend: stemming, stop words, typos.

Each alternative phrase is stemmed once per text search configuration by PostgreSQL
(`querytree(websearch_to_tsquery(...))`) and remembered in-process, since stems depend
only on the configurations. The tsquery sent with a search is one deduplicated string,
which keeps it small and the planner's row estimates honest.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service.search.text import (
    Phrase,
    Synonyms,
    Unit,
    near_spellings,
    parse_query,
    typo_targets,
    with_spellings,
)

CACHE_SIZE = 20_000

_TREES = text(
    """
    SELECT p.phrase,
           querytree(websearch_to_tsquery('yl_en', p.quoted)) AS en,
           querytree(websearch_to_tsquery('yl_es', p.quoted)) AS es,
           querytree(websearch_to_tsquery('yl_simple', p.quoted)) AS simple
      FROM unnest(CAST(:phrases AS text[]), CAST(:quoted AS text[])) AS p(phrase, quoted)
    """
)
# Words not in the lexicon, and the nearest lexicon words (trigram KNN) to correct them to.
_LOOKUP = text(
    """
    SELECT w.word,
           ARRAY(SELECT l.word FROM search_lexicon l ORDER BY l.word <-> w.word LIMIT 12) AS near
      FROM unnest(CAST(:words AS text[])) AS w(word)
     WHERE NOT EXISTS (SELECT 1 FROM search_lexicon l WHERE l.word = w.word)
    """
)


@dataclass(frozen=True)
class Compiled:
    """tsquery texts: every alternative, and only the words as typed (a ranking bonus)."""

    full: str
    typed: str


def _usable(tree: str | None) -> bool:
    return bool(tree) and tree != "T"


class QueryCompiler:
    def __init__(self, synonyms: Synonyms) -> None:
        self.synonyms = synonyms
        self._trees: dict[Phrase, tuple[str, ...]] = {}
        self._stop: set[str] = set()

    async def _stem(self, session: AsyncSession, phrases: Iterable[Phrase]) -> None:
        missing = sorted({p for p in phrases if p not in self._trees})
        if not missing:
            return
        if len(self._trees) + len(missing) > CACHE_SIZE:
            self._trees.clear()
        rows = await session.execute(
            _TREES,
            {
                "phrases": [" ".join(p) for p in missing],
                "quoted": ['"' + " ".join(p) + '"' for p in missing],
            },
        )
        for row in rows:
            phrase = tuple(row.phrase.split(" "))
            self._trees[phrase] = tuple(
                dict.fromkeys(t for t in (row.en, row.es, row.simple) if _usable(t))
            )
            if len(phrase) == 1 and not (_usable(row.en) and _usable(row.es)):
                self._stop.add(phrase[0])  # a stop word in English or Spanish

    async def compile(self, session: AsyncSession, query_text: str) -> Compiled | None:
        units = parse_query(query_text, self.synonyms)
        fuzzy = typo_targets(units)
        if fuzzy:
            rows = (await session.execute(_LOOKUP, {"words": fuzzy})).all()
            spellings = {r.word: near_spellings(r.word, r.near) for r in rows}
            units = with_spellings(units, spellings, self.synonyms)
        await self._stem(session, (p for u in units for p in u.alternatives))
        kept = [u for u in units if not (len(u.source) == 1 and u.source[0] in self._stop)]
        full = self._join(kept, typed=False)
        return Compiled(full, self._join(kept, typed=True)) if full else None

    def _join(self, units: list[Unit], typed: bool) -> str:
        parts = []
        for unit in units:
            phrases = (unit.source,) if typed else unit.alternatives
            trees = dict.fromkeys(t for p in phrases for t in self._trees.get(p, ()))
            if trees:
                parts.append("(" + " | ".join(trees) + ")")
        return " & ".join(parts)
