"""Words of a query or a document, as both search backends see them (pure functions).

A query becomes a list of `Unit`s: every unit must match (AND); a unit matches when any of
its alternatives does (OR). An alternative is a phrase: one or more words in order.
Synonyms add alternatives; typo tolerance adds near spellings found in the index's lexicon.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from rapidfuzz.distance import Levenshtein

SYNONYMS_FILE = Path(__file__).with_name("synonyms.json")

_WORD = re.compile(r"[a-z0-9]+")
# Meilisearch's default typo policy, which the postgres adapter copies: words of 5 to 8
# letters may have one typo, words of 9 letters or more two.
ONE_TYPO_FROM = 5
TWO_TYPOS_FROM = 9
MAX_QUERY_WORDS = 12
LEXICON_MIN_LENGTH = 3

Phrase = tuple[str, ...]


def fold(text: str) -> str:
    """Lower case, accents stripped: 'Fútbol' -> 'futbol'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def allowed_typos(word: str) -> int:
    if len(word) >= TWO_TYPOS_FROM:
        return 2
    return 1 if len(word) >= ONE_TYPO_FROM else 0


def near_spellings(word: str, candidates: Iterable[str]) -> list[str]:
    """The candidates within the typo allowance of `word` (never `word` itself)."""
    budget = allowed_typos(word)
    if not budget:
        return []
    return sorted({c for c in candidates if c != word and Levenshtein.distance(word, c) <= budget})


def lexicon_words(texts: Iterable[str | None]) -> set[str]:
    """Words a document adds to the lexicon that typo tolerance corrects towards.

    Letters only: numbers and codes are matched exactly, never corrected.
    """
    found: set[str] = set()
    for text in texts:
        if text:
            found.update(w for w in words(text) if len(w) >= LEXICON_MIN_LENGTH and w.isalpha())
    return found


@dataclass(frozen=True)
class Synonyms:
    """Groups of equivalent phrases, folded; every phrase maps to its whole group."""

    groups: tuple[tuple[Phrase, ...], ...]

    @classmethod
    def from_groups(cls, groups: Iterable[Iterable[str]]) -> Synonyms:
        folded = []
        for group in groups:
            phrases = tuple(dict.fromkeys(tuple(words(p)) for p in group if words(p)))
            if len(phrases) > 1:
                folded.append(phrases)
        return cls(tuple(folded))

    @property
    def by_phrase(self) -> Mapping[Phrase, tuple[Phrase, ...]]:
        return _index(self)

    @property
    def longest(self) -> int:
        return max((len(p) for g in self.groups for p in g), default=1)


@lru_cache(maxsize=8)
def _index(synonyms: Synonyms) -> dict[Phrase, tuple[Phrase, ...]]:
    index: dict[Phrase, list[Phrase]] = {}
    for group in synonyms.groups:
        for phrase in group:
            index.setdefault(phrase, [])
            index[phrase].extend(p for p in group if p not in index[phrase])
    return {k: tuple(v) for k, v in index.items()}


@lru_cache(maxsize=4)
def load_synonyms(path: Path = SYNONYMS_FILE) -> Synonyms:
    data = json.loads(path.read_text(encoding="utf-8"))
    return Synonyms.from_groups(data["groups"])


@dataclass(frozen=True)
class Unit:
    """One part of a query: matches when any alternative phrase matches."""

    source: Phrase
    alternatives: tuple[Phrase, ...]


def parse_query(text: str, synonyms: Synonyms) -> list[Unit]:
    """Split a query into units, longest synonym phrase first at each position."""
    tokens = words(text)[:MAX_QUERY_WORDS]
    index = synonyms.by_phrase
    units: list[Unit] = []
    i = 0
    while i < len(tokens):
        for size in range(min(synonyms.longest, len(tokens) - i), 0, -1):
            phrase = tuple(tokens[i : i + size])
            if phrase in index:
                units.append(Unit(phrase, index[phrase]))
                i += size
                break
        else:
            units.append(Unit((tokens[i],), ((tokens[i],),)))
            i += 1
    return units


def typo_targets(units: Iterable[Unit]) -> list[str]:
    """Single query words long enough to deserve typo tolerance."""
    return sorted({u.source[0] for u in units if len(u.source) == 1 and allowed_typos(u.source[0])})


def with_spellings(
    units: list[Unit], spellings: Mapping[str, list[str]], synonyms: Synonyms
) -> list[Unit]:
    """Units with near spellings of their word (and those spellings' synonyms) added."""
    index = synonyms.by_phrase
    out = []
    for unit in units:
        extra: list[Phrase] = []
        if len(unit.source) == 1:
            for spelling in spellings.get(unit.source[0], []):
                extra.extend(index.get((spelling,), ((spelling,),)))
        out.append(Unit(unit.source, tuple(dict.fromkeys(unit.alternatives + tuple(extra)))))
    return out
