"""The chat page with an agent that needs approval: the pending call shows Approve / Reject, and
the turn goes on with the user's answer (headless Chromium)."""

from __future__ import annotations

import uuid
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import DESKTOP, open_page
from tests.stack import Stack, make_token


def sign_in_with_token(page: Page, stack: Stack, user: str) -> None:
    page.goto(stack.api_url)
    page.locator("#token-block summary").click()
    page.locator("#token-input").fill(make_token(user))
    page.get_by_role("button", name="Sign in with token").click()
    expect(page.locator("#app")).to_be_visible()


def test_a_call_waiting_for_approval_is_approved_or_rejected_in_the_page(
    browser: Browser, stack: Stack, screenshots: Path
) -> None:
    user = f"approver-{uuid.uuid4().hex[:8]}"
    api = stack.client(user)
    agent = api.post(
        "/v1/agents",
        json={
            "name": "Careful",
            "instructions": "Manage the user's tasks.",
            "tools": [{"type": "todo"}],
            "approval": {"delete_task": "always"},
        },
    ).json()
    first = api.post("/v1/tasks", json={"title": "old milk"}).json()["id"]
    second = api.post("/v1/tasks", json={"title": "old bread"}).json()["id"]

    page, problems = open_page(browser, DESKTOP)
    sign_in_with_token(page, stack, user)
    page.locator("#agent-select").select_option(agent["id"])

    page.locator("#message-input").fill(f"delete task {first}")
    page.locator("#message-input").press("Enter")
    reply = page.locator(".message.assistant").last
    card = reply.locator(".tool-card")
    expect(card.locator(".chip")).to_have_text("needs approval")
    expect(card).to_contain_text("delete_task")
    expect(reply.locator(".meta")).to_contain_text("Waiting for your approval")
    assert api.get(f"/v1/tasks/{first}").status_code == 200
    page.screenshot(path=str(screenshots / "approval.png"))
    card.get_by_role("button", name="Approve").click()
    expect(card.locator(".chip")).to_have_text("done")
    expect(reply.locator(".bubble")).to_contain_text("deleted")
    expect(page.locator("#task-list")).not_to_contain_text("old milk")
    assert api.get(f"/v1/tasks/{first}").status_code == 404
    expect(page.get_by_role("button", name="Send")).to_be_visible()  # the turn has ended

    page.locator("#message-input").fill(f"delete task {second}")
    page.locator("#message-input").press("Enter")
    reply = page.locator(".message.assistant").last
    card = reply.locator(".tool-card")
    expect(card.locator(".chip")).to_have_text("needs approval")
    card.get_by_role("button", name="Reject").click()
    expect(card.locator(".chip")).to_have_text("error")
    expect(reply.locator(".bubble")).to_contain_text("rejected by the user")
    assert api.get(f"/v1/tasks/{second}").status_code == 200
    assert problems == []
