"""SearchQuery -> SQL predicates over search_documents, grouped by facet.

Every predicate is written so that an index can serve it: GIN on the tsvector and the
arrays, GiST on the ranges and the geography, B-tree on the scalars.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from geoalchemy2 import Geography
from sqlalchemy import (
    ColumnElement,
    Text,
    and_,
    cast,
    exists,
    false,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, TSQUERY

from service.search.document import WEEKDAYS, seasons_on
from service.search.models import SearchDocumentRow, SearchSiteRow
from service.search.query import FACET_FILTERS, Facet, Point, SearchQuery

D = SearchDocumentRow.__table__.c
S = SearchSiteRow.__table__.c
# The unaccent-ing text search configurations of migration 0002.
EN: ColumnElement[Any] = literal_column("'yl_en'::regconfig")
ES: ColumnElement[Any] = literal_column("'yl_es'::regconfig")
SIMPLE: ColumnElement[Any] = literal_column("'yl_simple'::regconfig")
CONFIGS = (EN, ES, SIMPLE)


def point(p: Point) -> ColumnElement[Any]:
    return cast(func.ST_SetSRID(func.ST_MakePoint(p.lng, p.lat), 4326), Geography)


def tsquery(compiled: str) -> ColumnElement[Any]:
    """A tsquery from the text pg_text.QueryCompiler built (stems, already deduplicated)."""
    return cast(literal(compiled, Text), TSQUERY)


def chain(operator: str, operands: Sequence[ColumnElement[Any]]) -> ColumnElement[Any]:
    result = operands[0]
    for other in operands[1:]:
        result = result.op(operator)(other)
    return result


def _slots(c: Any = D) -> Any:
    """A document's weekly sessions as rows s(d, o, c): weekday, opens, closes (minutes)."""
    return (
        func.unnest(c.slot_days, c.slot_opens, c.slot_closes)
        .table_valued("d", "o", "c")
        .render_derived(name="s")
    )


def _slot_match(q: SearchQuery, days: Sequence[str]) -> ColumnElement[bool]:
    """Some weekly slot on one of `days` (any day when empty) inside the time window."""
    s = _slots()
    opens, closes = q.window_minutes
    conditions = [s.c.o >= opens, s.c.c <= closes]
    if days:
        conditions.append(s.c.d.in_([WEEKDAYS.index(d) for d in days]))
    return exists(select(literal(1)).select_from(s).where(*conditions))


def _text_array(values: Sequence[str]) -> ColumnElement[Any]:
    return cast(literal(list(values), ARRAY(Text)), ARRAY(Text))


def predicates(
    q: SearchQuery, tsq: ColumnElement[Any] | None
) -> dict[Facet | None, list[ColumnElement[bool]]]:
    """Predicates of `q`; those under a facet are the ones that facet's counts ignore."""
    out: dict[Facet | None, list[ColumnElement[bool]]] = {None: []}
    common = out[None]

    def under(facet: Facet) -> list[ColumnElement[bool]]:
        return out.setdefault(facet, [])

    if tsq is not None:
        common.append(D.tsv.op("@@")(tsq))
    if q.categories:
        under(Facet.category).append(D.category.in_([c.value for c in q.categories]))
    if q.taxonomy_terms:
        common.append(D.term_codes.op("&&")(_text_array(q.taxonomy_terms)))
    ages = under(Facet.age_band)
    if q.age is not None:
        ages.append(D.ages.op("@>")(literal(q.age)))
    if q.age_min is not None or q.age_max is not None:
        ages.append(D.ages.op("&&")(func.numrange(q.age_min, q.age_max, "[]")))
    if q.age_bands:
        ages.append(D.age_bands.op("&&")(_text_array(q.age_bands)))
    if q.grade is not None:
        common.append(D.grades.op("@>")(literal(q.grade)))
    costs = under(Facet.cost_band)
    if q.free is not None:
        costs.append(D.monthly_cost == 0 if q.free else D.monthly_cost > 0)
    if q.max_cost is not None:
        costs.append(D.monthly_cost <= q.max_cost)
    if q.cost_bands:
        costs.append(D.cost_band.in_(q.cost_bands))
    if q.languages:
        under(Facet.language).append(D.languages.op("&&")(_text_array(q.languages)))
    if q.days:
        days = under(Facet.day)
        days.append(D.days.op("&&")(_text_array([d.value for d in q.days])))
        if q.has_window:
            days.append(_slot_match(q, [d.value for d in q.days]))
    if q.has_window:
        common.append(_slot_match(q, []))
    if q.on_date is not None:
        common.append(D.season.in_([s.value for s in seasons_on(q.on_date)]))
        common.append(D.runs.op("@>")(literal(q.on_date)))
    if q.near is not None and q.radius_m is not None:
        common.append(
            D.program_id.in_(
                select(S.program_id).where(
                    func.ST_DWithin(S.point, point(q.near), q.radius_m, False)
                )
            )
        )
    if q.zips:
        under(Facet.zip).append(D.zips.op("&&")(_text_array(q.zips)))
    if q.tracts:
        common.append(D.tracts.op("&&")(_text_array(q.tracts)))
    if q.within_city:
        common.append(D.in_city.is_(true()))
    if q.virtual is not None:
        common.append(D.virtual.is_(true()) if q.virtual else D.in_person.is_(true()))
    if q.transportation is not None:
        common.append(D.transportation.is_(true() if q.transportation else false()))
    if q.accessibility:
        common.append(D.accessibility.op("@>")(_text_array(q.accessibility)))
    if q.enrollment_open is not None:
        is_open = and_(
            D.enrollment_status == "open",
            or_(D.registration_deadline.is_(None), D.registration_deadline >= q.today),
        )
        common.append(is_open if q.enrollment_open else not_(is_open))
    if q.accepting_referrals is not None:
        common.append(D.accepting_referrals.is_(true() if q.accepting_referrals else false()))
    if q.verified_since is not None:
        common.append(D.last_verified_at >= q.verified_since)
    assert set(out) <= {None, *FACET_FILTERS}
    return out


def all_of(groups: dict[Facet | None, list[ColumnElement[bool]]]) -> list[ColumnElement[bool]]:
    return [p for preds in groups.values() for p in preds]


# What each facet counts, as an expression over one document (arrays are unnested).
FACET_COLUMNS = ("category", "languages", "age_bands", "cost_band", "zips", "days")
SLOT_COLUMNS = ("slot_days", "slot_opens", "slot_closes")


def facet_values(facet: Facet, q: SearchQuery, c: Any = D) -> ColumnElement[Any]:
    """The values one document gives `facet`, over columns `c` (the table or a CTE)."""
    if facet is Facet.category:
        return c.category
    if facet is Facet.language:
        return func.unnest(c.languages)
    if facet is Facet.age_band:
        return func.unnest(c.age_bands)
    if facet is Facet.cost_band:
        return c.cost_band
    if facet is Facet.zip:
        return func.unnest(c.zips)
    if not q.has_window:
        return func.unnest(c.days)
    # With a time window, a day counts only when a slot on it fits the window.
    s = _slots(c)
    opens, closes = q.window_minutes
    codes = ",".join(f"'{d.value}'" for d in WEEKDAYS)
    days = literal_column(f"(ARRAY[{codes}])", ARRAY(Text))
    window = (
        select(func.array_agg(func.distinct(days[s.c.d + 1])))
        .select_from(s)
        .where(s.c.o >= opens, s.c.c <= closes)
        .scalar_subquery()
    )
    return func.unnest(window)
