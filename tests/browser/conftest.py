"""Headless Chromium for the chat page tests: Debian's binary, driven by Playwright.

Playwright's own browser downloads are never used (`playwright install` is not needed):
`make browser-deps` installs Debian's `chromium`, and PARLEY_CHROMIUM may point elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

CHROMIUM = Path(os.environ.get("PARLEY_CHROMIUM", "/usr/bin/chromium"))
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# A turn waits for a worker to pick it up; on a busy 2-core machine that can take seconds.
TIMEOUT_MS = 30_000
expect.set_options(timeout=TIMEOUT_MS)
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def browser() -> Iterator[Browser]:
    """A browser per test: Playwright's sync API keeps an event loop running while it is open,
    which must not leak into other tests (asyncio.run refuses to start inside it)."""
    if not CHROMIUM.exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: run `make browser-deps` (Debian's chromium)")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=FLAGS, headless=True
        )
        yield instance
        instance.close()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where screenshots go: PARLEY_SCREENSHOT_DIR (e.g. docs/) or the test's temp dir."""
    target = os.environ.get("PARLEY_SCREENSHOT_DIR")
    path = Path(target) if target else tmp_path
    path.mkdir(parents=True, exist_ok=True)
    return path


def open_page(
    browser: Browser, viewport: dict[str, int], **options: object
) -> tuple[Page, list[str]]:
    """A fresh browser context; returns the page and a list collecting its script errors."""
    context = browser.new_context(
        viewport=viewport,  # type: ignore[arg-type]
        reduced_motion="reduce",  # drawers open at once, so screenshots show them whole
        **options,  # type: ignore[arg-type]
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # HTTP error statuses are logged too ("Failed to load resource"); the tests check
        # those through the page. Script errors and CSP refusals are what must not happen.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    return page, problems
