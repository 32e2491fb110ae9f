"""The chat page end to end in headless Chromium: sign in, stream a turn, tools, tasks, stop."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser.conftest import DESKTOP, PHONE, open_page
from tests.stack import Stack

SLOW_REPLY = "[[stream=60,0.15]] tell me a long story"


def sign_in_as_demo(page: Page, stack: Stack) -> None:
    page.goto(stack.api_url)
    expect(page.get_by_role("button", name="Continue as demo user")).to_be_visible()
    page.get_by_role("button", name="Continue as demo user").click()
    expect(page.locator("#app")).to_be_visible()
    expect(page.locator("#user-badge")).to_have_text("demo")


def send(page: Page, text: str) -> None:
    page.locator("#message-input").fill(text)
    page.locator("#message-input").press("Enter")


def last_reply(page: Page) -> Locator:
    return page.locator(".message.assistant").last


def stop_a_slow_reply(page: Page) -> None:
    """Send a reply that streams for ~9 s, watch it arrive, and stop it part way."""
    send(page, SLOW_REPLY)
    reply = last_reply(page)
    bubble = reply.locator(".bubble")
    expect(bubble).to_contain_text("chunk3")
    expect(reply).to_have_class(re.compile(r"\bstreaming\b"))
    assert "chunk60" not in bubble.inner_text()  # it is still being written
    page.get_by_role("button", name="Stop").click()
    expect(reply.locator(".meta")).to_have_text("Stopped")
    expect(reply).not_to_have_class(re.compile(r"\bstreaming\b"))
    assert "chunk60" not in bubble.inner_text()
    expect(page.get_by_role("button", name="Send")).to_be_visible()


def test_chat_on_a_desktop(browser: Browser, stack: Stack, screenshots: Path) -> None:
    page, problems = open_page(browser, DESKTOP)
    response = page.goto(stack.api_url)
    assert response is not None and response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    sign_in_as_demo(page, stack)

    send(page, "add a task to buy milk")
    reply = last_reply(page)
    card = reply.locator(".tool-card")
    expect(card.locator(".tool-name")).to_have_text("add_task")
    expect(card).to_contain_text('title: "buy milk"')
    expect(card.locator(".chip")).to_have_text("done")
    expect(card).to_contain_text('status: "created"')
    expect(reply.locator(".bubble")).to_have_text('Done. add_task: "buy milk" (created).')
    expect(page.locator("#task-list")).to_contain_text("buy milk")
    # The panel shows the user's own task number, the one the tool reported.
    number = page.locator("#task-list li", has_text="buy milk").locator(".task-id").inner_text()
    assert re.fullmatch(r"#\d+", number), number
    expect(card).to_contain_text(f"task_id: {number[1:]},")
    expect(page.locator("#conversation-list .active")).to_contain_text("add a task to buy milk")

    send(page, "remind me to call the plumber")
    expect(last_reply(page).locator(".bubble")).to_contain_text("call the plumber")
    expect(page.locator("#task-list li")).to_have_count(2)
    send(page, "show my tasks")
    expect(last_reply(page).locator(".bubble")).to_contain_text("You have 2 task(s)")
    page.locator("#task-list input").first.check()
    expect(page.locator("#task-list li.done")).to_have_count(1)
    expect(page.locator("#task-count")).to_have_text("1")
    page.screenshot(path=str(screenshots / "chat.png"))

    page.get_by_role("button", name="+ New").click()
    stop_a_slow_reply(page)
    assert problems == []
    page.context.close()


def test_chat_at_a_phones_width(browser: Browser, stack: Stack, screenshots: Path) -> None:
    page, problems = open_page(browser, PHONE, is_mobile=True, has_touch=True)
    sign_in_as_demo(page, stack)
    expect(page.locator("#conversations")).not_to_be_in_viewport()  # a drawer, closed
    page.locator("#toggle-chats").click()
    page.get_by_role("button", name="+ New").click()
    expect(page.locator("#conversations")).not_to_be_in_viewport()

    send(page, "add a task to water the plants")
    reply = last_reply(page)
    expect(reply.locator(".tool-card .tool-name")).to_have_text("add_task")
    expect(reply.locator(".bubble")).to_contain_text("water the plants")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways ({width}px)"
    page.screenshot(path=str(screenshots / "mobile.png"))

    page.locator("#toggle-tasks").click()
    expect(page.locator("#tasks")).to_be_in_viewport()
    expect(page.locator("#task-list")).to_contain_text("water the plants")
    page.screenshot(path=str(screenshots / "mobile-tasks.png"))
    page.locator("#close-tasks").click()
    page.locator("#toggle-chats").click()
    expect(page.locator("#conversations")).to_be_in_viewport()
    expect(page.locator("#conversation-list")).to_contain_text("water the plants")
    page.locator("#scrim").click(position={"x": 370, "y": 400})
    expect(page.locator("#conversations")).not_to_be_in_viewport()

    stop_a_slow_reply(page)
    assert problems == []
    page.context.close()


def test_sign_in_with_a_token_and_a_bad_one(
    browser: Browser, stack: Stack, screenshots: Path
) -> None:
    page, problems = open_page(browser, DESKTOP)
    page.goto(stack.api_url)
    expect(page.get_by_role("button", name="Continue as demo user")).to_be_visible()
    page.get_by_text("Use a bearer token or API key instead").click()
    page.locator("#token-input").fill("not-a-token")
    page.get_by_role("button", name="Sign in with token").click()
    expect(page.locator("#signin-error")).to_have_text("That token was not accepted.")

    api = stack.client()
    page.locator("#token-input").fill(api.headers["Authorization"].removeprefix("Bearer "))
    page.get_by_role("button", name="Sign in with token").click()
    expect(page.locator("#user-badge")).to_have_text(api.user)
    expect(page.locator("#welcome")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#signin")).to_be_visible()
    assert problems == []
    api.close()
    page.context.close()


def test_sign_in_with_a_password_refresh_silently_and_sign_out(
    browser: Browser, stack: Stack, screenshots: Path
) -> None:
    """Register on the page, chat, survive an expired access token, sign out for good."""
    page, problems = open_page(browser, DESKTOP)
    page.goto(stack.api_url)
    expect(page.get_by_role("button", name="Create account")).to_be_visible()
    page.screenshot(path=str(screenshots / "signin.png"))
    username = f"page-{uuid.uuid4().hex[:8]}"
    page.locator("#username-input").fill(username)
    page.locator("#password-input").fill("short")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#signin-error")).to_contain_text("at least 8 characters")
    page.locator("#password-input").fill("a long enough password")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#user-badge")).to_have_text(username)
    send(page, "add a task to buy milk")
    expect(last_reply(page).locator(".tool-card .chip")).to_have_text("done")

    # The access token expires (here: becomes garbage); the next call renews it silently.
    first_refresh = page.evaluate("localStorage.getItem('parley.refresh')")
    page.evaluate("localStorage.setItem('parley.token', 'expired-access-token')")
    page.reload()
    expect(page.locator("#user-badge")).to_have_text(username)
    expect(page.locator("#task-list")).to_contain_text("buy milk")
    expect(page.locator("#signin")).to_be_hidden()
    latest = page.evaluate("localStorage.getItem('parley.refresh')")
    assert latest and latest != first_refresh

    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#signin")).to_be_visible()
    with httpx.Client(base_url=stack.api_url) as anon:
        deadline = time.monotonic() + 10
        while anon.post("/v1/auth/refresh", json={"refresh_token": latest}).status_code != 401:
            assert time.monotonic() < deadline, "sign-out did not revoke the refresh token"
            time.sleep(0.2)
    # A wrong password on the page says so, without saying which part was wrong.
    page.locator("#username-input").fill(username)
    page.locator("#password-input").fill("not the password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.locator("#signin-error")).to_have_text("Wrong username or password.")
    page.locator("#password-input").fill("a long enough password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.locator("#user-badge")).to_have_text(username)
    assert problems == []
    page.context.close()
