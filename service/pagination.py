"""The one page envelope (HSDS 3.0 Page shape) and page parameters of every list endpoint."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")

MAX_PER_PAGE = 100


@dataclass(frozen=True)
class PageParams:
    page: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


async def page_params(
    page: Annotated[int, Query(ge=1, le=1_000_000, description="1-based page number")] = 1,
    per_page: Annotated[
        int, Query(ge=1, le=MAX_PER_PAGE, description=f"Items per page (max {MAX_PER_PAGE})")
    ] = 20,
) -> PageParams:
    return PageParams(page=page, per_page=per_page)


def envelope(total: int, page: int, per_page: int, contents: list[Any]) -> dict[str, Any]:
    """The HSDS page fields around `contents`, in Page's field order (for handlers that
    write their JSON directly)."""
    total_pages = -(-total // per_page) if total else 0
    return {
        "total_items": total,
        "total_pages": total_pages,
        "page_number": page,
        "size": len(contents),
        "first_page": page == 1,
        "last_page": page >= total_pages,
        "empty": not contents,
        "contents": contents,
    }


class Page(BaseModel, Generic[T]):
    """A page of results, in the Open Referral HSDS 3.0 Page shape."""

    total_items: int = Field(ge=0)
    total_pages: int = Field(ge=0)
    page_number: int = Field(ge=1)
    size: int = Field(ge=0, description="Number of items on this page")
    first_page: bool
    last_page: bool
    empty: bool
    contents: list[T]

    @classmethod
    def build(cls, items: list[T], total: int, params: PageParams) -> Page[T]:
        total_pages = math.ceil(total / params.per_page) if total else 0
        return cls(
            total_items=total,
            total_pages=total_pages,
            page_number=params.page,
            size=len(items),
            first_page=params.page == 1,
            last_page=params.page >= total_pages,
            empty=not items,
            contents=items,
        )


async def fetch_page(
    session: AsyncSession, query: Select[Any], params: PageParams, *order: Any
) -> tuple[Sequence[Any], int]:
    """One page of `query` in a stable `order`, and the total count of its rows."""
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = await session.scalars(
        query.order_by(*order).offset(params.offset).limit(params.per_page)
    )
    return rows.all(), int(total or 0)


async def counted_page(
    session: AsyncSession, query: Select[Any], params: PageParams, *order: Any
) -> tuple[Sequence[Any], int]:
    """One page of `query` in a stable `order` and the number of all its rows, in one
    statement (a window count beside each row); a page past the end counts on its own."""
    counted = query.add_columns(func.count().over().label("total_rows"))
    page = counted.order_by(*order).offset(params.offset).limit(params.per_page)
    rows = (await session.execute(page)).all()
    if rows:
        return rows, int(rows[0].total_rows)
    if params.page == 1:
        return rows, 0
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    return rows, int(total or 0)
