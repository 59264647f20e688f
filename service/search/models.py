"""Tables of the search subsystem: the postgres adapter's documents and lexicon, the outbox.

search_documents holds only what filters, sorts and ranks (a narrow row scans fast);
search_texts holds what hits show.

search_documents is derived data: `python -m service reindex` rebuilds it from the
catalog at any time. The outbox is how catalog writes reach whichever backend is active.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from geoalchemy2 import Geography
from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import (
    ARRAY,
    DATERANGE,
    INT4RANGE,
    JSONB,
    NUMRANGE,
    TSVECTOR,
    Range,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base


class SearchDocumentRow(Base):
    __tablename__ = "search_documents"
    __table_args__ = (
        Index("ix_search_documents_tsv", "tsv", postgresql_using="gin"),
        Index("ix_search_documents_geog", "geog", postgresql_using="gist"),
        Index("ix_search_documents_ages", "ages", postgresql_using="gist"),
        Index("ix_search_documents_grades", "grades", postgresql_using="gist"),
        Index("ix_search_documents_runs", "runs", postgresql_using="gist"),
        Index(
            "ix_search_documents_arrays",
            "languages",
            "days",
            "age_bands",
            "term_codes",
            "accessibility",
            "zips",
            "tracts",
            postgresql_using="gin",
        ),
    )

    program_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("programs.id", ondelete="CASCADE"), primary_key=True
    )
    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    name_sort: Mapped[str] = mapped_column(Text, index=True)
    term_codes: Mapped[list[str]] = mapped_column(ARRAY(Text))
    category: Mapped[str] = mapped_column(String(40), index=True)
    ages: Mapped[Range[Decimal]] = mapped_column(NUMRANGE)
    age_bands: Mapped[list[str]] = mapped_column(ARRAY(Text))
    grades: Mapped[Range[int]] = mapped_column(INT4RANGE)
    monthly_cost: Mapped[Decimal | None] = mapped_column(Numeric(10, 2), index=True)
    cost_band: Mapped[str] = mapped_column(String(20))
    languages: Mapped[list[str]] = mapped_column(ARRAY(Text))
    days: Mapped[list[str]] = mapped_column(ARRAY(Text))
    slot_days: Mapped[list[int]] = mapped_column(ARRAY(SmallInteger))
    slot_opens: Mapped[list[int]] = mapped_column(ARRAY(SmallInteger))
    slot_closes: Mapped[list[int]] = mapped_column(ARRAY(SmallInteger))
    season: Mapped[str] = mapped_column(String(20))
    runs: Mapped[Range[date]] = mapped_column(DATERANGE)
    enrollment_status: Mapped[str] = mapped_column(String(20))
    registration_deadline: Mapped[date | None]
    accepting_referrals: Mapped[bool] = mapped_column(Boolean)
    transportation: Mapped[bool] = mapped_column(Boolean)
    accessibility: Mapped[list[str]] = mapped_column(ARRAY(Text))
    virtual: Mapped[bool] = mapped_column(Boolean)
    in_person: Mapped[bool] = mapped_column(Boolean)
    last_verified_at: Mapped[datetime | None] = mapped_column(index=True)
    geog: Mapped[Any] = mapped_column(
        Geography("MULTIPOINT", srid=4326, spatial_index=False), nullable=True
    )
    zips: Mapped[list[str]] = mapped_column(ARRAY(Text))
    tracts: Mapped[list[str]] = mapped_column(ARRAY(Text))
    in_city: Mapped[bool] = mapped_column(Boolean)
    tsv: Mapped[Any] = mapped_column(
        TSVECTOR, comment="Weighted English + Spanish text (pg_index.TSV_PARTS)"
    )
    indexed_at: Mapped[datetime] = mapped_column(server_default=func.now())


class SearchSiteRow(Base):
    """One row per physical site of an indexed program: radius filters test sites one by
    one (a multi-site program's MultiPoint has a bounding box too wide to filter on)."""

    __tablename__ = "search_sites"
    __table_args__ = (Index("ix_search_sites_point", "point", postgresql_using="gist"),)

    program_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("search_documents.program_id", ondelete="CASCADE"), primary_key=True
    )
    site: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    point: Mapped[Any] = mapped_column(Geography("POINT", srid=4326, spatial_index=False))


class SearchTextRow(Base):
    """What a hit shows, read only for the rows of a page (keeps search_documents narrow)."""

    __tablename__ = "search_texts"

    program_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("search_documents.program_id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    name_es: Mapped[str | None] = mapped_column(Text)
    description_es: Mapped[str | None] = mapped_column(Text)
    display: Mapped[dict[str, Any]] = mapped_column(JSONB)


class SearchLexicon(Base):
    """Words seen in indexed text (folded); typo tolerance corrects query words to these."""

    __tablename__ = "search_lexicon"
    __table_args__ = (
        Index(
            "ix_search_lexicon_trgm",
            "word",
            postgresql_using="gist",
            postgresql_ops={"word": "gist_trgm_ops"},
        ),
    )

    word: Mapped[str] = mapped_column(Text, primary_key=True)


class SearchOutbox(Base):
    """A program whose search document must be refreshed (or removed).

    Rows are written by triggers on the catalog tables (migration 0002), in the same
    transaction as the change, whatever code path made it.
    """

    __tablename__ = "search_outbox"
    __table_args__ = (Index("ix_search_outbox_due", "available_at", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    program_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    enqueued_at: Mapped[datetime] = mapped_column(server_default=func.now())
    available_at: Mapped[datetime] = mapped_column(server_default=func.now())
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
