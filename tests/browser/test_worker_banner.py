"""The chat page says when no worker is running: its turns would only wait in the queue."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from fakellm import FakeLLM
from tests.browser.conftest import DESKTOP, open_page
from tests.browser.test_chat_page import sign_in_as_demo
from tests.conftest import running_stack
from tests.stack import Stack


@pytest.fixture
def banner_stack(request: pytest.FixtureRequest, llm: FakeLLM, tmp_path: Path) -> Iterator[Stack]:
    env = {"WORKER_STALE_SECONDS": "2", "WORKER_HEARTBEAT_SECONDS": "0.5"}
    with running_stack(request, "embedded", tmp_path, llm, extra_env=env) as s:
        yield s


def test_a_banner_shows_while_no_worker_is_seen(
    browser: Browser, banner_stack: Stack, screenshots: Path
) -> None:
    page, problems = open_page(browser, DESKTOP)
    sign_in_as_demo(page, banner_stack)
    banner = page.locator("#worker-banner")
    expect(banner).to_be_hidden()

    banner_stack.kill("worker", signal.SIGTERM)  # a clean stop removes its heartbeat at once
    page.reload()
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("No worker is running")
    page.screenshot(path=str(screenshots / "chat-no-worker.png"))

    banner_stack.start_worker("again")
    with page.expect_response("**/readyz") as answered:  # hidden after the page asked
        page.reload()
    assert answered.value.json()["checks"]["workers"]["ok"] is True
    expect(banner).to_be_hidden()
    assert problems == []
