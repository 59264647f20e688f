"""Tables of the search subsystem: the change log, and the cursors that follow it.

Catalog triggers (migration 0008) append one `search_changes` row per program whose
search document may have changed, in the writer's transaction, whatever code path made
the change. Every index follows the log from its own cursor: each API process's embedded
index in memory, the Meilisearch index from its row in `search_cursors`. Rows are
trimmed by age (`search_log_horizon` remembers how far), and an index whose cursor
predates the trim rebuilds itself from the catalog.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Integer, Text, Uuid, func, text
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base

# The writing transaction's 64-bit id (xid8), as bigint: cursors are PostgreSQL
# snapshots, and a change is new to a cursor when its writer is not visible in it.
WRITER = text("(pg_current_xact_id())::text::bigint")


class SearchChange(Base):
    __tablename__ = "search_changes"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    program_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, comment="NULL: every program (a rebuild after a bulk load)"
    )
    tx: Mapped[int] = mapped_column(BigInteger, index=True, server_default=WRITER)
    changed_at: Mapped[datetime] = mapped_column(index=True, server_default=func.now())


class SearchCursor(Base):
    """How far a server-side index (Meilisearch) has followed the log."""

    __tablename__ = "search_cursors"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    snapshot: Mapped[str] = mapped_column(Text, comment="pg_snapshot the index reflects")
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)


class SearchLogHorizon(Base):
    """One row: every change written by a transaction up to `trimmed_through` is gone."""

    __tablename__ = "search_log_horizon"
    __table_args__ = (CheckConstraint("one", name="one_row"),)

    one: Mapped[bool] = mapped_column(Boolean, primary_key=True, server_default="true")
    trimmed_through: Mapped[int] = mapped_column(BigInteger, server_default="0")
    trimmed_at: Mapped[datetime | None]
