"""The tantivy index's schema, its text analyzers, and SearchDocument -> tantivy Document.

Words are indexed per language: English fields through an English stemmer, the Spanish
translations through a Spanish one, both lower-cased and accent-folded first, so that
"futbol" finds "Fútbol". Filters and facets read keyword fields (one term per value,
`raw`), fast numeric fields and booleans; each physical site adds its grid cells
(service/search/tantivy/geo.py). What a hit shows is stored as JSON (service/search/hits.py).
"""

from __future__ import annotations

import struct
import uuid
from datetime import date, datetime
from functools import lru_cache

import orjson
import tantivy

from service.search.document import SearchDocument, name_key
from service.search.hits import fixed_json, sites
from service.search.tantivy.geo import site_cells

EN, ES, RAW = "yl_en", "yl_es", "raw"
# Searchable text: (field, analyzer, boost). Names outrank taxonomy terms, which outrank
# the organization and the description.
TEXT_FIELDS: tuple[tuple[str, str, float], ...] = (
    ("name", EN, 4.0),
    ("name_es", ES, 4.0),
    ("terms", EN, 2.0),
    ("terms_es", ES, 2.0),
    ("organization_name", EN, 1.0),
    ("description", EN, 1.0),
    ("description_es", ES, 1.0),
)
STORED_TEXT = {"name", "name_es", "description", "description_es"}  # snippets read them
KEYWORDS = (
    "category",
    "term_codes",
    "age_bands",
    "cost_band",
    "languages",
    "days",
    "season",
    "enrollment_status",
    "accessibility",
    "zips",
    "tracts",
)
FLOATS = ("age_lo", "age_hi", "monthly_cost")
INTEGERS = (
    "grade_lo",
    "grade_hi",
    "runs_from",
    "runs_to",
    "registration_deadline",
    "last_verified_at",
)
# Multi-valued keyword fields that are counted as facets, and how their sets are kept.
FACET_SETS = ("languages", "age_bands", "days", "zips")
SET_SUFFIX = "_set"
SET_SEPARATOR = "\x1f"  # the ASCII unit separator: in no value
# A COVERS range whose values are few and whole, indexed value by value as well:
# (low field, high field) -> the field holding every value in between.
ENUMERATED_RANGES = {("grade_lo", "grade_hi"): "grades"}
ENUMERATED = tuple(ENUMERATED_RANGES.values())
BOOLEANS = ("accepting_referrals", "transportation", "virtual", "in_person", "in_city")
NO_DEADLINE = 99991231  # a program without a registration deadline
FAST_SITES = 4  # sites whose coordinates are fast fields


def analyzer(language: str) -> tantivy.TextAnalyzer:
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .filter(tantivy.Filter.stemmer(language))
        .build()
    )


WORDS = "yl_words"
ANALYZERS = {
    EN: analyzer("english"),
    ES: analyzer("spanish"),
    WORDS: tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
    .filter(tantivy.Filter.lowercase())
    .filter(tantivy.Filter.ascii_fold())
    .build(),
}


@lru_cache(maxsize=20_000)
def analyzed(analyzer_name: str, word: str) -> tuple[str, ...]:
    """The terms `word` is indexed as under an analyzer (cached: queries repeat words)."""
    return tuple(ANALYZERS[analyzer_name].analyze(word))


def build_schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("program_id", stored=True, tokenizer_name=RAW, index_option="basic")
    for name, analyzer_name, _ in TEXT_FIELDS:
        builder.add_text_field(name, stored=name in STORED_TEXT, tokenizer_name=analyzer_name)
    # Every word of the text, folded but not stemmed: the vocabulary typos are corrected to.
    builder.add_text_field("words", tokenizer_name=WORDS, index_option="basic")
    for name in KEYWORDS:
        builder.add_text_field(name, tokenizer_name=RAW, fast=True, index_option="basic")
    # A multi-valued facet's values, all of them as one value: its counts come from an
    # aggregation over a single-valued column (at a million programs 0.25 ms where the
    # multi-valued column took 1.8-2.3 ms for 59,000 matches), then spread to each value.
    for name in FACET_SETS:
        builder.add_text_field(
            f"{name}{SET_SUFFIX}", tokenizer_name=RAW, fast=True, index_option="basic"
        )
    builder.add_text_field("slots", tokenizer_name=RAW, index_option="basic")
    builder.add_unsigned_field("cells", indexed=True)
    for name in FLOATS:
        builder.add_float_field(name, indexed=True, fast=True)
    for name in INTEGERS:
        builder.add_integer_field(name, indexed=True, fast=True)
    # Each grade a program fits, one term each: "fits grade g" is one posting list, where
    # grade_lo <= g <= grade_hi scanned two columns (0.3 vs 1.8 ms at 100,000, measured).
    for name in ENUMERATED:
        builder.add_integer_field(name, indexed=True)
    for name in BOOLEANS:
        builder.add_boolean_field(name, indexed=True, fast=True)
    # The first FAST_SITES sites' coordinates, the number of sites and a 64-bit key per
    # program, as fast fields: exact distances are read from them in bulk (a program with
    # more sites has the rest read from the stored `points`).
    for i in range(FAST_SITES):
        builder.add_float_field(f"lat_{i}", fast=True)
        builder.add_float_field(f"lng_{i}", fast=True)
    builder.add_unsigned_field("sites", fast=True)
    # The key twice: read in bulk (fast), and matched as a term set (indexed): a term set
    # over a fast field scans the whole column (a millisecond at 100,000 programs).
    builder.add_unsigned_field("key", fast=True)
    builder.add_unsigned_field("key_term", indexed=True)
    # Name order: the key (stored, read to break ties) and its rank (tantivy/names.py).
    builder.add_text_field("sort_name", stored=True, tokenizer_name=RAW, index_option="basic")
    builder.add_unsigned_field("name_rank", indexed=True, fast=True)
    # The rank's high bits, indexed only: "the first blocks of the name order" is then a
    # union of a few posting lists (a range over the fast rank scans the whole column).
    builder.add_unsigned_field("name_block", indexed=True)
    builder.add_text_field("sort_verified", tokenizer_name=RAW, fast=True, index_option="basic")
    builder.add_bytes_field("points", stored=True)
    # What a hit shows: its fixed JSON, and its placed sites (for the nearest one).
    builder.add_bytes_field("hit", stored=True)
    builder.add_bytes_field("placed", stored=True)
    return builder.build()


# A block of the name order: 1,024 documents as a rebuild numbers them (tantivy/names.py).
NAME_BLOCK_SHIFT = 42


def name_block(rank: int) -> int:
    return rank >> NAME_BLOCK_SHIFT


def day_number(day: date) -> int:
    return day.year * 10_000 + day.month * 100 + day.day


def epoch(moment: datetime | None) -> int:
    return int(moment.timestamp()) if moment else 0


def slot_code(day: int, opens: int, closes: int) -> str:
    """A weekly session as one keyword: weekday (MO=0), opening and closing minute."""
    return f"{day}:{opens}:{closes}"


def pack_points(points: tuple[tuple[float, float], ...]) -> bytes:
    return b"".join(struct.pack("<dd", lat, lng) for lat, lng in points)


def unpack_points(raw: bytes) -> list[tuple[float, float]]:
    return list(struct.iter_unpack("<dd", raw))


def program_key(program_id: uuid.UUID) -> int:
    """A program's 64-bit key: the first half of its UUID (random bits: two of a million
    programs share one with a chance of about 3 in 10^8)."""
    return program_id.int >> 64


def _sort_verified(doc: SearchDocument, sort_name: str) -> str:
    """Most recently verified first, then by name, as one ascending key (never last)."""
    newest_first = 10**12 - epoch(doc.last_verified_at) if doc.last_verified_at else 10**12
    return f"{newest_first:013d}{sort_name}"


def to_tantivy(doc: SearchDocument, name_rank: int) -> tantivy.Document:
    """A program's tantivy document, at `name_rank` in the name order (the methods bound
    once: some sixty calls a program, a rebuild's hottest loop)."""
    out = tantivy.Document()
    add_text, add_unsigned, add_integer = out.add_text, out.add_unsigned, out.add_integer
    add_text("program_id", str(doc.program_id))
    for name, _, _ in TEXT_FIELDS:
        value = getattr(doc, name)
        if value:
            add_text(name, value)
            add_text("words", value)
    for name in KEYWORDS:
        value = getattr(doc, name)
        if isinstance(value, str):
            add_text(name, value)
        else:
            for item in value:
                add_text(name, item)
    for name in FACET_SETS:
        if values := getattr(doc, name):
            add_text(f"{name}{SET_SUFFIX}", SET_SEPARATOR.join(values))
    for day, opens, closes in doc.slots:
        add_text("slots", slot_code(day, opens, closes))
    for lat, lng in doc.points:
        for cell in site_cells(lat, lng):
            add_unsigned("cells", cell)
    out.add_float("age_lo", float(doc.age_lo))
    out.add_float("age_hi", float(doc.age_hi))
    if doc.monthly_cost is not None:  # unknown cost: neither free nor paid
        out.add_float("monthly_cost", float(doc.monthly_cost))
    add_integer("grade_lo", doc.grade_lo)
    add_integer("grade_hi", doc.grade_hi)
    for grade in range(doc.grade_lo, doc.grade_hi + 1):
        add_integer("grades", grade)
    add_integer("runs_from", day_number(doc.runs_from))
    add_integer("runs_to", day_number(doc.runs_to))
    deadline = doc.registration_deadline
    add_integer("registration_deadline", day_number(deadline) if deadline else NO_DEADLINE)
    add_integer("last_verified_at", epoch(doc.last_verified_at))
    for name in BOOLEANS:
        out.add_boolean(name, bool(getattr(doc, name)))
    for i, (lat, lng) in enumerate(doc.points[:FAST_SITES]):
        out.add_float(f"lat_{i}", lat)
        out.add_float(f"lng_{i}", lng)
    add_unsigned("sites", len(doc.points))
    key = program_key(doc.program_id)
    add_unsigned("key", key)
    add_unsigned("key_term", key)
    sort_name = name_key(doc.name, doc.program_id)
    add_text("sort_name", sort_name)
    add_unsigned("name_rank", name_rank)
    add_unsigned("name_block", name_block(name_rank))
    add_text("sort_verified", _sort_verified(doc, sort_name))
    out.add_bytes("points", pack_points(doc.points))
    out.add_bytes("hit", fixed_json(doc.display))
    out.add_bytes("placed", orjson.dumps(sites(doc.display)))
    return out
