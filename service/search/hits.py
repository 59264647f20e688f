"""A hit's JSON in two parts: what every search of a program shows, and what its query adds.

The fixed part (organization, ages, grades, cost, sessions, contact, ...) is serialized
once, when the program is indexed (tantivy stores it; Meilisearch hits have it made from
their stored display); a search adds only its own members (the name and description in
the language asked, the nearest site and its distance, highlights) and splices the two,
so a page of 20 hits costs no model, no dict of 30 keys and no serialization of the
fixed part per hit. tests/search checks that every answer validates as SearchPage.
"""

from __future__ import annotations

from typing import Any

import orjson

from service.catalog.enums import Grade
from service.search.port import haversine_m
from service.search.query import Point

# Documents indexed before these fields existed have neither until a reindex.
_NO_CONTACT = {"phone": None, "website": None, "email": None}


_GRADES: dict[int | None, str | None] = {g.rank: g.value for g in Grade} | {None: None}


def fixed_json(display: dict[str, Any]) -> bytes:
    """The SearchHit members no query changes, as one JSON object, from a document's
    display (service/search/document.py)."""
    d = display
    return orjson.dumps(
        {
            "id": d["id"],
            "organization": d["organization"],
            "category": d["category"],
            "taxonomy_terms": d["taxonomy_terms"],
            "min_age": d["min_age"],
            "max_age": d["max_age"],
            "min_grade": _GRADES[d["min_grade"]],
            "max_grade": _GRADES[d["max_grade"]],
            "languages": d["languages"],
            "days": d["days"],
            "season": d["season"],
            "starts_on": d["starts_on"],
            "ends_on": d["ends_on"],
            "cost": d["cost"],
            "enrollment_status": d["enrollment_status"],
            "seats_available": d["seats_available"],
            "registration_deadline": d["registration_deadline"],
            "accepting_referrals": d["accepting_referrals"],
            "transportation_provided": d["transportation_provided"],
            "accessibility": d["accessibility"],
            "last_verified_at": d["last_verified_at"],
            "locations_count": len(d["locations"]),
            "contact": d.get("contact") or _NO_CONTACT,
            "sessions": d.get("sessions") or [],
        }
    )


def sites(display: dict[str, Any]) -> list[dict[str, Any]]:
    """The program's sites with coordinates, in the display's order: what `nearest`
    chooses from."""
    return [loc for loc in display["locations"] if loc["latitude"] is not None]


def nearest(
    placed: list[dict[str, Any]], point: Point | None
) -> tuple[dict[str, Any] | None, float | None]:
    """(the site nearest `point`, its distance in metres): the first site and no distance
    when no point was given; (None, None) for a program without a placed site."""
    if not placed:
        return None, None
    if point is None:
        return placed[0], None
    measured = [(haversine_m(point, s["latitude"], s["longitude"]), s) for s in placed]
    distance, site = min(measured, key=lambda pair: pair[0])
    return site, distance


def spliced(fixed: bytes, query_part: dict[str, Any]) -> orjson.Fragment:
    """One hit: the fixed object's members and the query's, as one JSON object."""
    return orjson.Fragment(fixed[:-1] + b"," + orjson.dumps(query_part)[1:])
