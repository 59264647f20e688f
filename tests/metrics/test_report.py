"""The board report: self-contained HTML, rendered by a real headless browser."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
from pathlib import Path
from urllib.parse import unquote

import anyio
import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from service.devdeps import ensure_chromium
from tests.conftest import Callers
from tests.factories import create_location, create_program
from tests.metrics.test_referral_metrics import build


def _chromium(*args: str) -> subprocess.CompletedProcess[bytes]:
    common = [ensure_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    return subprocess.run([*common, *args], capture_output=True, timeout=120, check=False)


async def _report(
    client: httpx.AsyncClient, session: AsyncSession, callers: Callers, lang: str = "en"
) -> str:
    await build(session, callers)
    site = await create_location(client, callers.provider_a)
    await create_program(client, callers.provider_a, name="Near", location_ids=[site["id"]])
    response = await client.get(
        "/metrics/report",
        params={"group_by": "gender", "lang": lang},
        headers=callers.analyst.headers,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


async def test_the_report_is_self_contained(
    client: httpx.AsyncClient, session: AsyncSession, callers: Callers
) -> None:
    page = await _report(client, session, callers)
    assert "<svg" in page and "Loop closed within 90 days" in page
    assert not re.search(r"<(script|link|img|iframe)\b", page)  # nothing to fetch
    assert not re.search(r"\bsrc\s*=", page)
    links = re.findall(r'href="([^"]*)"', page)
    assert links and all(link.startswith("data:") for link in links)  # files inside it
    # 6 students per gender < 10: withheld, and the page says why, with human labels.
    assert "withheld: fewer than 10 students" in page
    assert "Female" in page and ">female<" not in page
    assert "Zqfemale" not in page and "Metricsson" not in page
    for link in links:
        assert "Zqfemale" not in unquote(link) and "Metricsson" not in unquote(link)


async def test_the_downloads_are_the_tables_behind_the_page(
    client: httpx.AsyncClient, session: AsyncSession, callers: Callers
) -> None:
    page = await _report(client, session, callers)
    csv_link, geojson_link = re.findall(r'href="data:[^,]*,([^"]*)"', page)
    rows = list(csv.DictReader(io.StringIO(unquote(csv_link))))
    assert {"group.gender", "students", "closed_within_90_days_rate"} <= set(rows[0])
    tracts = json.loads(unquote(geojson_link))
    assert tracts["type"] == "FeatureCollection" and len(tracts["features"]) >= 10


async def test_the_report_speaks_spanish(
    client: httpx.AsyncClient, session: AsyncSession, callers: Callers
) -> None:
    page = await _report(client, session, callers, lang="es")
    assert '<html lang="es">' in page
    for text in (
        "Informe de coordinación y equidad",
        "Femenino",
        "Masculino",
        "por género",
        "oculto: menos de 10 estudiantes",
        "Programas al alcance",
        "Diferencia con todos",
    ):
        assert text in page, text
    assert "Loop closed" not in page


async def test_the_report_renders_in_headless_chromium(
    client: httpx.AsyncClient,
    session: AsyncSession,
    callers: Callers,
    tmp_path: Path,
) -> None:
    page = tmp_path / "report.html"
    page.write_text(await _report(client, session, callers))
    shot = tmp_path / "report.png"
    done = await anyio.to_thread.run_sync(
        _chromium, f"--screenshot={shot}", "--window-size=1100,1600", page.as_uri()
    )
    assert shot.exists() and shot.stat().st_size > 20_000, done.stderr.decode()[-2000:]
    dom = (await anyio.to_thread.run_sync(_chromium, "--dump-dom", page.as_uri())).stdout.decode()
    assert dom.count("<path") >= 10  # the tract map was laid out
    assert "all students" in dom
    # Each tract carries its number; the legend its ranges; every group its gap or why.
    assert len(re.findall(r'<text class="tract"[^>]*>\d+', dom)) >= 10
    assert re.search(r"</span> \d+(-\d+)?", dom) and "0: none (program desert)" in dom
    assert "Gap to all students" in dom and "Female" in dom
