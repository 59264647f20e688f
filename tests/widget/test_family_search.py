"""A family's search on a partner page, in headless Chromium: a misspelt word, Spanish,
filters and their counts, paging, the keyboard alone, axe-core, and a page whose styles
stay its own."""

from __future__ import annotations

import os
import re
from pathlib import Path

import anyio
from playwright.async_api import Page, expect

from tests.widget.conftest import AXE

WIDGET = "youthlink-search"
HEADING = f"{WIDGET} .results-heading"


async def _count(page: Page) -> int:
    text = await page.locator(HEADING).text_content() or ""
    found = re.search(r"[\d,]+", text)
    assert found, text
    return int(found.group().replace(",", ""))


async def _settled(page: Page) -> None:
    """The widget answered the last change (aria-busy is set while it searches)."""
    await expect(page.locator(f"{WIDGET}:not([aria-busy])")).to_have_count(1)
    await expect(page.locator(f"{WIDGET} .card").first).to_be_visible()


async def _open(page: Page) -> None:
    await page.goto("/demo")
    await _settled(page)


async def test_a_misspelt_word_suggests_and_finds_the_program(page: Page) -> None:
    await _open(page)
    box = page.get_by_role("combobox", name="Search programs")
    await box.fill("robtics")  # one letter missing
    option = page.get_by_role("option", name=re.compile("Robotics"))
    await expect(option.first).to_be_visible()
    await box.press("ArrowDown")
    await expect(box).to_have_attribute("aria-activedescendant", re.compile(".+"))
    await box.press("Enter")
    await _settled(page)
    first = page.locator(f"{WIDGET} .card h3").first
    await expect(first).to_contain_text("Robotics")
    card = page.locator(f"{WIDGET} .card").first
    await expect(card).to_contain_text("Ask your school counselor to refer you")
    await expect(card.get_by_role("link", name=re.compile(r"^Call "))).to_have_count(1)


async def test_spanish_throughout_labels_cards_and_empty_state(page: Page) -> None:
    await _open(page)
    await page.get_by_role("button", name="Español").click()
    await _settled(page)
    await expect(page.get_by_role("combobox", name="Buscar programas")).to_be_visible()
    await expect(page.locator(HEADING)).to_contain_text("programas")
    await expect(page.get_by_text("Solo gratis")).to_be_visible()
    await expect(page.locator(f"{WIDGET} .days label").first).to_contain_text("lun")
    box = page.get_by_role("combobox", name="Buscar programas")
    await box.fill("robotica")
    await box.press("Enter")
    await _settled(page)
    await expect(page.locator(f"{WIDGET} .card h3").first).to_have_text(
        "Equipo de Robótica de Secundaria"
    )
    await box.fill("zzqxwv")
    await box.press("Enter")
    await expect(page.locator(f"{WIDGET} .empty")).to_have_text(
        "Ningún programa coincide. Pruebe con menos filtros u otra palabra."
    )


async def test_age_and_free_filters_change_the_counts(page: Page) -> None:
    await _open(page)
    everything = await _count(page)
    free_label = page.locator(f"{WIDGET} label.check").filter(has_text="Free only")
    free_before = int(re.findall(r"\((\d+)\)", await free_label.text_content() or "")[0])
    await page.get_by_label("Child's age").fill("7")
    await page.get_by_label("Child's age").press("Tab")
    await expect(page.locator(HEADING)).not_to_have_text(f"{everything} programs")
    for_seven = await _count(page)
    assert 0 < for_seven < everything
    free_for_seven = int(re.findall(r"\((\d+)\)", await free_label.text_content() or "")[0])
    assert free_for_seven < free_before  # the counts follow the age filter
    await page.get_by_label("Free only").check()
    await expect(page.locator(HEADING)).to_have_text(re.compile(rf"^{free_for_seven} program"))


async def test_paging_moves_the_focus_to_the_new_page(page: Page) -> None:
    await _open(page)
    first = await page.locator(f"{WIDGET} .card h3").first.text_content()
    await expect(page.locator(f"{WIDGET} nav.pager")).to_contain_text("Page 1 of")
    await page.get_by_role("button", name="Next").click()
    await expect(page.locator(f"{WIDGET} nav.pager")).to_contain_text("Page 2 of")
    await expect(page.locator(f"{WIDGET} .card h3").first).not_to_have_text(first or "")
    focused = await page.evaluate(
        "document.querySelector('youthlink-search').shadowRoot.activeElement.className"
    )
    assert focused == "results-heading"
    await page.get_by_role("button", name="Previous").click()
    await expect(page.locator(f"{WIDGET} .card h3").first).to_have_text(first or "")


async def _focused(page: Page) -> str:
    """What has the focus, inside the widget: its accessible label or text."""
    return str(
        await page.evaluate(
            """() => {
                const root = document.querySelector('youthlink-search').shadowRoot;
                const el = root.activeElement || document.activeElement;
                const label = el.id && root.querySelector(`label[for="${el.id}"]`);
                return (label && label.textContent) || el.closest('label')?.textContent
                    || el.textContent || el.tagName;
            }"""
        )
    )


async def test_a_family_searches_with_the_keyboard_alone(page: Page) -> None:
    await _open(page)
    await page.keyboard.press("Tab")  # the partner's English button
    await page.keyboard.press("Tab")  # ... and Español
    await page.keyboard.press("Tab")
    assert await _focused(page) == "Search programs"
    await page.keyboard.type("swim")
    await page.keyboard.press("Enter")
    await _settled(page)
    await expect(page.locator(f"{WIDGET} .card h3").first).to_contain_text(re.compile("Swim"))
    order = []
    for _ in range(4):
        await page.keyboard.press("Tab")
        order.append((await _focused(page)).strip())
    assert order[:3] == ["Search", "Child's age", "Grade"]
    assert order[3].startswith("Free only")
    before = await _count(page)
    await page.keyboard.press("Space")  # check "Free only"
    await expect(page.locator(HEADING)).not_to_have_text(re.compile(rf"^{before} "))
    await expect(page.locator(f"{WIDGET}:not([aria-busy])")).to_have_count(1)
    # The filters were drawn anew with the new counts; the focus stayed on the checkbox,
    # so the next Tab goes on to the next filter, not back to the top of the page.
    assert (await _focused(page)).strip().startswith("Free only")
    await page.keyboard.press("Tab")
    assert await _focused(page) == "Language"


async def test_axe_finds_no_serious_violation_in_either_language(page: Page) -> None:
    await _open(page)
    await page.add_script_tag(path=str(AXE))
    for language in ("English", "Español"):
        await page.get_by_role("button", name=language).click()
        await _settled(page)
        result = await page.evaluate(
            "async () => (await axe.run(document.querySelector('youthlink-search')))"
            ".violations.map(v => ({id: v.id, impact: v.impact, n: v.nodes.length}))"
        )
        serious = [v for v in result if v["impact"] in ("serious", "critical")]
        assert not serious, (language, serious)


async def test_styles_stay_on_their_side_and_nothing_is_fetched_elsewhere(
    page: Page, site: str, tmp_path: Path
) -> None:
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    await _open(page)
    # The demo page styles every h3 red and uppercase: not the widget's.
    color = await page.locator(f"{WIDGET} .card h3").first.evaluate(
        "e => getComputedStyle(e).color"
    )
    assert color != "rgb(255, 0, 0)"
    # The partner's colours reach it through the custom properties it documents.
    button = page.get_by_role("button", name="Search", exact=True)
    assert await button.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(15, 81, 50)"
    # The widget's styles do not reach the page.
    page_h2 = page.locator("main > h2")
    assert await page_h2.evaluate("e => getComputedStyle(e).fontFamily") != "system-ui"
    # No tiles-url: no tile server, no font or script from anywhere but the API.
    assert all(url.startswith(site) for url in requested), requested
    shots = anyio.Path(os.environ.get("YOUTHLINK_SCREENSHOTS", tmp_path))
    await shots.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(shots / "family-search.png"), full_page=True)
