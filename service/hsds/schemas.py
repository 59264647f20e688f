"""The import summary, as the API returns it."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RejectedOut(BaseModel):
    record: int = Field(description="Position in the file, from 1")
    id: str | None = Field(description="The record's id, when it had a readable one")
    errors: list[str]


class ImportSummaryOut(BaseModel):
    created: int
    updated: int
    unchanged: int
    rejected: list[RejectedOut]
    warnings: list[str] = Field(description="Parts of accepted records that were not kept")
    file_error: str | None = Field(
        description="Why reading stopped early (a truncated file); the records before it count"
    )
