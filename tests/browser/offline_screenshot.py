"""The README's chat screenshot as a new user sees it: `make run`'s offline model, not the
scripted LLM the browser tests use. Start `parley dev` (or `make run`), then:
`python -m tests.browser.offline_screenshot http://127.0.0.1:8000 docs/chat.png`."""

from __future__ import annotations

import sys
import time

from playwright.sync_api import expect, sync_playwright

from tests.browser.conftest import DESKTOP

MESSAGES = ("add a task to buy milk", "remind me to call the plumber", "show my tasks")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def main(url: str, path: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport=DESKTOP)  # type: ignore[arg-type]
        page.goto(url)
        page.get_by_role("button", name="Continue as demo user").click()
        expect(page.locator("#app")).to_be_visible()
        replies = page.locator(".message.assistant")
        for count, text in enumerate(MESSAGES, start=1):
            page.locator("#message-input").fill(text)
            page.locator("#message-input").press("Enter")
            expect(replies).to_have_count(count, timeout=30_000)
            expect(replies.last.locator(".bubble")).not_to_be_empty(timeout=30_000)
            time.sleep(1.5)  # the task panel refreshes after the reply
        page.locator("#task-list input").first.check()
        time.sleep(1)
        page.screenshot(path=path)
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
