"""SearchQuery -> tantivy queries: the words, and each filter Kind of the filter table.

Words: every unit of the query (service/search/text.py) must match some text field; a
unit matches by any of its alternatives (the words typed, their synonyms, and near
spellings found in the index's own term dictionary with Meilisearch's typo allowance).
Filters never score: they are wrapped so that only the words rank.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import tantivy
from rapidfuzz import process
from rapidfuzz.distance import OSA

from service.search.document import WEEKDAYS, seasons_on
from service.search.filters import FILTERS, Filter, Kind
from service.search.query import SearchQuery
from service.search.stopwords import STOP_WORDS
from service.search.tantivy.schema import (
    BOOLEANS,
    ENUMERATED_RANGES,
    FLOATS,
    TEXT_FIELDS,
    analyzed,
    day_number,
    epoch,
)
from service.search.text import Phrase, Synonyms, Unit, allowed_typos, parse_query

Q = tantivy.Query
Occur = tantivy.Occur
SPELLING_BOOST = 0.5  # a corrected word ranks below the word typed
SYNONYM_BOOST = 0.8
TIE_BREAKER = 0.1  # the share of the other matching alternatives' scores a unit adds


def all_of(*parts: tantivy.Query | None) -> tantivy.Query:
    """Documents matching every part given (every document when none is)."""
    present = [p for p in parts if p is not None]
    if not present:
        return Q.all_query()
    if len(present) == 1:
        return present[0]
    return Q.boolean_query([(Occur.Must, p) for p in present])


def filtered(words: tantivy.Query | None, filters: Sequence[tantivy.Query]) -> tantivy.Query:
    """Words rank; filters only narrow (they score nothing)."""
    return all_of(words, *(Q.const_score_query(f, 0.0) for f in filters))


def _kind_of(field: str) -> tantivy.FieldType:
    if field in FLOATS:
        return tantivy.FieldType.Float
    return tantivy.FieldType.Integer


def _number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return epoch(value)
    return value


class Vocabulary:
    """The index's words (folded, not stemmed: the `words` field) by first letter, for
    typo correction; read from tantivy's term dictionary once per searcher (an index
    change makes a new one)."""

    def __init__(self, searcher: tantivy.Searcher) -> None:
        self.searcher = searcher
        self._terms: dict[tuple[str, str], list[str]] = {}

    def _words(self, first: str) -> list[str]:
        key = ("words", first)
        if key not in self._terms:
            self._terms[key] = [t for t, _ in self.searcher.terms_with_prefix("words", first)]
        return self._terms[key]

    def near(self, word: str, typos: int) -> list[str]:
        """Indexed words within `typos` edits of `word` (Damerau: a swap is one typo) and
        with its first letter (Meilisearch counts a first-letter typo double), when `word`
        itself is not indexed: a word that is found is not corrected, as in Meilisearch's
        ranking, where exact matches come first."""
        words = self._words(word[0])
        if not words or _present(words, word):
            return []
        found = process.extract(word, words, scorer=OSA.distance, score_cutoff=typos, limit=None)
        return [w for w, _, _ in found]

    def slot_codes(self) -> list[str]:
        """The distinct weekly session codes in the index (a few hundred at most)."""
        key = ("slots", "")
        if key not in self._terms:
            self._terms[key] = [t for t, _ in self.searcher.terms_with_prefix("slots", "")]
        return self._terms[key]


class Translator:
    def __init__(self, schema: tantivy.Schema, synonyms: Synonyms, vocabulary: Vocabulary):
        self.schema = schema
        self.synonyms = synonyms
        self.vocabulary = vocabulary

    # ------------------------------------------------------------------ words

    def words(self, text: str) -> tantivy.Query | None:
        units = [u for u in parse_query(text, self.synonyms) if not _only_stop_words(u)]
        if not units:
            return None
        return Q.boolean_query([(Occur.Must, self._unit(u)) for u in units])

    def _unit(self, unit: Unit) -> tantivy.Query:
        """A unit scores as its best alternative in its best field (a program is not
        ranked up for matching several synonyms), plus a little for the others."""
        options: list[tantivy.Query] = []
        for phrase in unit.alternatives:
            boost = 1.0 if phrase == unit.source else SYNONYM_BOOST
            options += self._phrase(phrase, boost)
        if len(unit.source) == 1 and (typos := allowed_typos(unit.source[0])):
            for spelling in self.vocabulary.near(unit.source[0], typos):
                options += self._phrase((spelling,), SPELLING_BOOST)
        return Q.disjunction_max_query(options, TIE_BREAKER)

    def _phrase(self, phrase: Phrase, boost: float) -> list[tantivy.Query]:
        out = []
        for field, analyzer_name, field_boost in TEXT_FIELDS:
            terms = [t for word in phrase for t in analyzed(analyzer_name, word)]
            if not terms:
                continue
            q = (
                Q.term_query(self.schema, field, terms[0])
                if len(terms) == 1
                else Q.phrase_query(self.schema, field, list[str | tuple[int, str]](terms))
            )
            out.append(Q.boost_query(q, field_boost * boost))
        return out

    # ------------------------------------------------------------------ filters

    def filters(self, q: SearchQuery, radius: tantivy.Query | None) -> list[tantivy.Query]:
        """One query per set filter, in table order (the window once)."""
        out: list[tantivy.Query] = []
        window_done = False
        for spec in FILTERS:
            value = q.get(spec.name)
            if value is None:
                continue
            if spec.kind is Kind.WINDOW:
                if not window_done:
                    out.append(self.window(q, q.get("day") or ()))
                    window_done = True
            elif spec.kind is Kind.RADIUS:
                if radius is not None:
                    out.append(radius)
            else:
                out.append(self._translate(spec, value, q))
        return out

    def _translate(self, spec: Filter, value: Any, q: SearchQuery) -> tantivy.Query:
        return _KINDS[spec.kind](self, spec.fields, value, q)

    def _terms(self, field: str, values: Iterable[str]) -> tantivy.Query:
        return Q.term_set_query(self.schema, field, list(values))

    def _range(
        self, field: str, low: Any = None, high: Any = None, **bounds: bool
    ) -> tantivy.Query:
        return Q.range_query(
            self.schema, field, _kind_of(field), _number(low), _number(high), **bounds
        )

    def _bool(self, field: str, value: bool) -> tantivy.Query:
        return Q.term_query(self.schema, field, value)

    def window(self, q: SearchQuery, days: Iterable[str]) -> tantivy.Query:
        """A weekly session inside q's window, on one of `days` (any day when empty): the
        index's distinct session codes that qualify, as one term set."""
        opens, closes = q.window_minutes
        wanted = {[d.value for d in WEEKDAYS].index(d) for d in days} or set(range(7))
        codes = [
            code
            for code in self.vocabulary.slot_codes()
            if (parts := code.split(":"))
            and int(parts[0]) in wanted
            and int(parts[1]) >= opens
            and int(parts[2]) <= closes
        ]
        return self._terms("slots", codes) if codes else Q.empty_query()


def _any(t: Translator, fields: tuple[str, ...], value: Any, q: SearchQuery) -> tantivy.Query:
    return t._terms(fields[0], value)


def _all(t: Translator, fields: tuple[str, ...], value: Any, q: SearchQuery) -> tantivy.Query:
    return Q.boolean_query([(Occur.Must, Q.term_query(t.schema, fields[0], v)) for v in value])


def _flag(t: Translator, fields: tuple[str, ...], value: Any, q: SearchQuery) -> tantivy.Query:
    return t._bool(fields[0], bool(value))


def _at_least(t: Translator, fields: tuple[str, ...], value: Any, q: SearchQuery) -> tantivy.Query:
    return t._range(fields[0], low=value)


def _at_most(t: Translator, fields: tuple[str, ...], value: Any, q: SearchQuery) -> tantivy.Query:
    return t._range(fields[0], high=value)


def _covers(t: Translator, fields: tuple[str, ...], value: Any, q: SearchQuery) -> tantivy.Query:
    low, high = fields
    if (enumerated := ENUMERATED_RANGES.get((low, high))) is not None:
        return Q.term_query(t.schema, enumerated, value)
    return Q.boolean_query(
        [(Occur.Must, t._range(low, high=value)), (Occur.Must, t._range(high, low=value))]
    )


def _zero(t: Translator, fields: tuple[str, ...], value: Any, q: SearchQuery) -> tantivy.Query:
    if value:
        return t._range(fields[0], 0, 0)
    return t._range(fields[0], low=0, include_lower=False)


def _either(t: Translator, fields: tuple[str, ...], value: Any, q: SearchQuery) -> tantivy.Query:
    return t._bool(fields[0] if value else fields[1], True)


def _on_date(t: Translator, fields: tuple[str, ...], value: Any, q: SearchQuery) -> tantivy.Query:
    season, runs_from, runs_to = fields
    day = day_number(value)
    return Q.boolean_query(
        [
            (Occur.Must, t._terms(season, [s.value for s in seasons_on(value)])),
            (Occur.Must, t._range(runs_from, high=day)),
            (Occur.Must, t._range(runs_to, low=day)),
        ]
    )


def _open(t: Translator, fields: tuple[str, ...], value: Any, q: SearchQuery) -> tantivy.Query:
    status, deadline = fields
    is_open = Q.boolean_query(
        [
            (Occur.Must, Q.term_query(t.schema, status, "open")),
            (Occur.Must, t._range(deadline, low=day_number(q.today))),
        ]
    )
    if value:
        return is_open
    return Q.boolean_query([(Occur.Must, Q.all_query()), (Occur.MustNot, is_open)])


_KINDS: dict[Kind, Callable[[Translator, tuple[str, ...], Any, SearchQuery], tantivy.Query]] = {
    Kind.ANY: _any,
    Kind.ALL: _all,
    Kind.FLAG: _flag,
    Kind.AT_LEAST: _at_least,
    Kind.AT_MOST: _at_most,
    Kind.COVERS: _covers,
    Kind.ZERO: _zero,
    Kind.EITHER: _either,
    Kind.ON_DATE: _on_date,
    Kind.OPEN: _open,
}
assert set(_KINDS) | {Kind.WINDOW, Kind.RADIUS} == set(Kind)
assert all(
    name in BOOLEANS for f in FILTERS if f.kind in (Kind.FLAG, Kind.EITHER) for name in f.fields
)


def _present(words: list[str], word: str) -> bool:
    """Whether sorted `words` (the term dictionary's order) holds `word`."""
    at = bisect.bisect_left(words, word)
    return at < len(words) and words[at] == word


def _only_stop_words(unit: Unit) -> bool:
    return all(word in STOP_WORDS for word in unit.source)
