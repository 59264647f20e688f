"""The family search widget in a real browser: the API served by `python -m service serve`
on a database of its own (migrated, Norwalk geodata, the sample catalog), and headless
Chromium (the machine's, installed by `make deps`) driven by Playwright."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright

from service.devdeps import ensure_chromium
from service.widget.router import BUNDLE
from tests.conftest import make_test_database, run_cli

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "service", *args], env=env, check=True, capture_output=True
    )


@pytest.fixture(scope="session")
def site(worker_id_safe: str) -> Iterator[str]:
    """The base URL of a Youthlink server with the sample catalog and the built widget."""
    assert BUNDLE.is_file(), "the widget is not built: `make widget` (make test builds it)"
    env = {
        **os.environ,
        "YOUTHLINK_DATABASE_URL": make_test_database(f"{worker_id_safe}_widget"),
        "YOUTHLINK_RATE_LIMITS_ENABLED": "false",
    }
    run_cli(env, "load-geodata")
    run_cli(env, "seed")
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if httpx.get(f"{base}/search/programs?per_page=1", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError("the server did not come up")
        yield base
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        launched = await p.chromium.launch(
            executable_path=ensure_chromium(), args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser, site: str) -> AsyncIterator[Page]:
    context = await browser.new_context(
        viewport={"width": 1200, "height": 1000}, locale="en-US", base_url=site
    )
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda e: errors.append(str(e)))
    yield opened
    await context.close()
    assert not errors, errors  # no script error on the partner's page
