"""ISO 639 language codes, validated against pycountry (Debian's iso-codes data).

Codes are stored in their shortest ISO 639 form: the two-letter 639-1 code where one
exists (es), otherwise the three-letter 639-3 code (e.g. yue, Cantonese). 639-2/B codes that
differ from 639-3 (fre, ger, chi...) are accepted and normalised too.
"""

from __future__ import annotations

from functools import lru_cache

import pycountry


@lru_cache(maxsize=4096)
def normalize(code: str) -> str:
    """The canonical code for `code`, or ValueError naming the problem."""
    raw = code.strip().lower()
    lang = None
    if len(raw) == 2 and raw.isalpha():
        lang = pycountry.languages.get(alpha_2=raw)
    elif len(raw) == 3 and raw.isalpha():
        lang = pycountry.languages.get(alpha_3=raw) or pycountry.languages.get(bibliographic=raw)
    if lang is None:
        raise ValueError(f"'{code}' is not an ISO 639 language code")
    return str(getattr(lang, "alpha_2", None) or lang.alpha_3)


def name(code: str) -> str:
    """English name of a canonical code ('es' -> 'Spanish')."""
    lang = (
        pycountry.languages.get(alpha_2=code)
        if len(code) == 2
        else (pycountry.languages.get(alpha_3=code))
    )
    return str(lang.name) if lang is not None else code


def is_currency(code: str) -> bool:
    return len(code) == 3 and pycountry.currencies.get(alpha_3=code.upper()) is not None
