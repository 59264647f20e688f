"""Human labels of the groups metrics report, in English and Spanish (the board report).

Codes stay codes in the API (`group`); a report shows these. Language names come from
pycountry with its Spanish translations (Debian's iso-codes), organization names from
the catalog, everything else from the tables here.
"""

from __future__ import annotations

import gettext
from functools import lru_cache
from typing import Literal

import pycountry

from service.metrics.dimensions import NOT_REPORTED, OTHER, Dimension

Lang = Literal["en", "es"]

_VALUES: dict[Lang, dict[str, str]] = {
    "en": {
        "hispanic_latino": "Hispanic or Latino",
        "american_indian_or_alaska_native": "American Indian or Alaska Native",
        "asian": "Asian",
        "black_or_african_american": "Black or African American",
        "native_hawaiian_or_other_pacific_islander": "Native Hawaiian or Pacific Islander",
        "white": "White",
        "two_or_more_races": "Two or more races",
        "female": "Female",
        "male": "Male",
        "nonbinary": "Nonbinary",
        "another": "Another gender",
        "declined": "Declined to say",
        "PK-K": "Pre-K and K",
        "1-5": "Grades 1-5",
        "6-8": "Grades 6-8",
        "9-12": "Grades 9-12",
        "yes": "Yes",
        "no": "No",
        "out_of_school_time": "Out-of-school time",
        "social_emotional_health": "Social-emotional health",
        "college_career": "College and career",
        OTHER: "Other (small groups combined)",
        NOT_REPORTED: "Not reported",
    },
    "es": {
        "hispanic_latino": "Hispano o latino",
        "american_indian_or_alaska_native": "Indígena americano o nativo de Alaska",
        "asian": "Asiático",
        "black_or_african_american": "Negro o afroamericano",
        "native_hawaiian_or_other_pacific_islander": "Nativo de Hawái o de las islas del Pacífico",
        "white": "Blanco",
        "two_or_more_races": "Dos o más razas",
        "female": "Femenino",
        "male": "Masculino",
        "nonbinary": "No binario",
        "another": "Otro género",
        "declined": "Prefirió no decir",
        "PK-K": "Prekínder y kínder",
        "1-5": "Grados 1 a 5",
        "6-8": "Grados 6 a 8",
        "9-12": "Grados 9 a 12",
        "yes": "Sí",
        "no": "No",
        "out_of_school_time": "Fuera del horario escolar",
        "social_emotional_health": "Salud socioemocional",
        "college_career": "Universidad y carrera",
        OTHER: "Otros (grupos pequeños combinados)",
        NOT_REPORTED: "Sin dato",
    },
}

DIMENSIONS: dict[Lang, dict[Dimension, str]] = {
    "en": {
        Dimension.provider: "provider",
        Dimension.program_category: "kind of program",
        Dimension.school: "school",
        Dimension.tract: "home census tract",
        Dimension.zip: "home ZIP code area",
        Dimension.grade_band: "grade",
        Dimension.gender: "gender",
        Dimension.race_ethnicity: "race and ethnicity",
        Dimension.home_language: "home language",
        Dimension.english_learner: "English learner",
        Dimension.month: "month",
    },
    "es": {
        Dimension.provider: "proveedor",
        Dimension.program_category: "tipo de programa",
        Dimension.school: "escuela",
        Dimension.tract: "sector censal del hogar",
        Dimension.zip: "código postal del hogar",
        Dimension.grade_band: "grado",
        Dimension.gender: "género",
        Dimension.race_ethnicity: "raza y etnia",
        Dimension.home_language: "idioma del hogar",
        Dimension.english_learner: "aprendiz de inglés",
        Dimension.month: "mes",
    },
}


@lru_cache(maxsize=1)
def _spanish_languages() -> gettext.NullTranslations:
    return gettext.translation("iso639-3", pycountry.LOCALES_DIR, languages=["es"], fallback=True)


def _language(code: str, lang: Lang) -> str:
    found = (
        pycountry.languages.get(alpha_2=code)
        if len(code) == 2
        else pycountry.languages.get(alpha_3=code)
    )
    if found is None:
        return code
    name = str(found.name)
    return _spanish_languages().gettext(name) if lang == "es" else name


def value_label(dimension: Dimension, value: str, lang: Lang, named: str | None = None) -> str:
    """The label of one group: an organization's name, a language's, or the table's."""
    if named:
        return named
    if value in (OTHER, NOT_REPORTED):
        return _VALUES[lang][value]
    if dimension is Dimension.home_language:
        return _language(value, lang)
    return _VALUES[lang].get(value, value)
