"""The sample Norwalk catalog loads, twice without duplicating anything."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.catalog.enums import Category
from service.catalog.models import Location, Program
from service.catalog.seed import load_seed_file
from service.settings import Settings


async def _counts(session: AsyncSession) -> tuple[int, int]:
    programs = await session.scalar(select(func.count()).select_from(Program))
    locations = await session.scalar(select(func.count()).select_from(Location))
    return int(programs or 0), int(locations or 0)


async def test_seed_is_idempotent_and_covers_every_category(
    session: AsyncSession, settings: Settings
) -> None:
    path = settings.seeds_dir / "norwalk.json"
    before = await _counts(session)
    first = await load_seed_file(session, path)
    after_first = await _counts(session)
    await load_seed_file(session, path)
    assert await _counts(session) == after_first
    assert after_first[0] - before[0] == first.programs >= 80
    assert first.organizations >= 25
    categories = set(await session.scalars(select(Program.category).distinct()))
    assert categories == set(Category)
    multi_site = await session.scalar(
        select(func.count()).select_from(
            select(Program.id)
            .join(Program.locations)
            .group_by(Program.id)
            .having(func.count() > 1)
            .subquery()
        )
    )
    assert (multi_site or 0) >= 5
    spanish = await session.scalar(
        select(func.count()).select_from(Program).where(Program.translations.has_key("es"))
    )
    assert spanish == first.programs


async def test_seed_locations_fall_in_norwalk_tracts(
    session: AsyncSession, settings: Settings
) -> None:
    await load_seed_file(session, settings.seeds_dir / "norwalk.json")
    unlabelled = await session.scalar(
        select(func.count())
        .select_from(Location)
        .where(Location.point.is_not(None), Location.tract_geoid.is_(None))
    )
    assert unlabelled == 0
