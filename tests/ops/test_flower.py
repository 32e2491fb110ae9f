"""`parley flower` against a running stack: basic auth enforced, its API shows the turns, and
its tasks page is what the README shows (`PARLEY_SCREENSHOT_DIR=docs` writes docs/flower.png)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from fakellm import FakeLLM
from shared.cli.argv import console_script
from tests.browser.conftest import CHROMIUM, DESKTOP, FLAGS
from tests.browser.conftest import screenshots as screenshots  # the same PARLEY_SCREENSHOT_DIR
from tests.conftest import running_stack
from tests.stack import Stack, free_port

CREDENTIALS = ("operator", "flower-pass-7f3a")


def _flower(stack: Stack) -> str:
    port = free_port()
    stack.start_proc(
        "flower",
        [console_script("parley"), "flower"],
        env={"FLOWER_BASIC_AUTH": ":".join(CREDENTIALS), "FLOWER_PORT": str(port)},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthcheck", timeout=5).status_code == 200:
                return url
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, stack.procs["flower"].log()
        time.sleep(0.2)


def _task_of_run(url: str, run_id: str, seconds: float = 30) -> dict[str, Any]:
    """The `runs.execute` task whose argument is `run_id`, once Flower saw it succeed."""
    deadline = time.monotonic() + seconds
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:
        tasks = httpx.get(
            f"{url}/api/tasks", params={"taskname": "runs.execute"}, auth=CREDENTIALS, timeout=10
        ).json()
        seen = {i: t for i, t in tasks.items() if run_id in str(t.get("args"))}
        for task_id, task in seen.items():
            if task["state"] == "SUCCESS":
                return {**task, "uuid": task_id}
        time.sleep(0.3)
    raise AssertionError(f"Flower never showed run {run_id} succeed: {seen}")


@pytest.fixture
def stack(request: pytest.FixtureRequest, llm: FakeLLM, tmp_path: Path) -> Iterator[Stack]:
    """Services tier only: the embedded broker has no fanout, so Flower cannot work there."""
    with running_stack(request, "services", tmp_path, llm) as s:
        yield s


def _screenshot_tasks_page(url: str, path: Path, task_ids: list[str]) -> None:
    """Flower's tasks page, filtered to the turns, as an operator sees it in Chromium (Debian's
    binary through Playwright, as the browser tests launch it)."""
    if not CHROMIUM.exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: run `make browser-deps` (Debian's chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=FLAGS, headless=True
        )
        try:
            context = browser.new_context(
                viewport=DESKTOP,  # type: ignore[arg-type]
                http_credentials={"username": CREDENTIALS[0], "password": CREDENTIALS[1]},
            )
            page = context.new_page()
            page.goto(f"{url}/tasks?name=runs.execute")
            rows = page.locator("#tasks-table tbody tr")
            for task_id in task_ids:  # every turn's task listed, with its state
                expect(rows.filter(has_text=task_id)).to_contain_text("SUCCESS", timeout=30_000)
            page.screenshot(path=str(path))
        finally:
            browser.close()
    assert path.stat().st_size > 10_000


def test_flower_needs_its_password_and_lists_the_turn_that_just_ran(
    stack: Stack, screenshots: Path
) -> None:
    # Task events cost broker messages per turn: off until a Flower asks for them.
    assert "task events: OFF" in stack.procs["worker"].log()
    assert "enabled by remote" not in stack.procs["worker"].log()
    url = _flower(stack)
    try:
        assert httpx.get(f"{url}/", timeout=10).status_code == 401
        assert httpx.get(f"{url}/api/tasks", timeout=10).status_code == 401
        wrong = httpx.get(f"{url}/api/tasks", auth=("operator", "wrong"), timeout=10)
        assert wrong.status_code == 401
        assert httpx.get(f"{url}/", auth=CREDENTIALS, timeout=10).status_code == 200

        # Flower switches the workers' task events on when it connects (they are off
        # otherwise): the sweeps beat sends every second show when that has landed.
        deadline = time.monotonic() + 30
        while not httpx.get(f"{url}/api/tasks", auth=CREDENTIALS, timeout=10).json():
            assert time.monotonic() < deadline, stack.procs["flower"].log()
            time.sleep(0.3)
        assert "Events of group {task} enabled by remote" in stack.procs["worker"].log()
        api = stack.client()
        run = api.turn("Add a task to water the plants")
        assert run["status"] == "completed"
        task = _task_of_run(url, run["id"])
        assert task["name"] == "runs.execute"
        assert task["worker"] and task["received"] and task["succeeded"]
        more = [api.turn(m)["id"] for m in ("Show me all my tasks", "Add a task to call mum")]
        tasks = [task["uuid"], *(_task_of_run(url, run_id)["uuid"] for run_id in more)]
        _screenshot_tasks_page(url, screenshots / "flower.png", tasks)
        api.close()
    finally:
        stack.kill("flower")
