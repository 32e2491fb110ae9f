"""`/readyz` tells whether any worker is alive: `checks.workers`, fatal only when asked to be."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fakellm import FakeLLM
from shared.cli.argv import web_argv
from tests.conftest import TIERS, running_stack
from tests.stack import Stack, free_port

STALE = 3


@pytest.fixture(params=TIERS)
def ready_stack(request: pytest.FixtureRequest, llm: FakeLLM, tmp_path: Path) -> Iterator[Stack]:
    env = {"WORKER_STALE_SECONDS": str(STALE), "WORKER_HEARTBEAT_SECONDS": "0.5"}
    with running_stack(request, str(request.param), tmp_path, llm, extra_env=env) as s:
        yield s


def _ready(url: str) -> httpx.Response:
    return httpx.get(f"{url}/readyz", timeout=10)


def _workers_when(url: str, ok: bool, seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        workers: dict[str, Any] = _ready(url).json()["checks"]["workers"]
        if workers["ok"] is ok:
            return workers
        assert time.monotonic() < deadline, f"workers check still {workers}"
        time.sleep(0.2)


def test_workers_check_follows_the_heartbeats(ready_stack: Stack) -> None:
    seen = _workers_when(ready_stack.api_url, True, 10)
    assert seen["live"] == 1 and seen["last_seen_at"] is not None

    strict_port = free_port()
    ready_stack.start_proc(
        "web-strict",
        web_argv("127.0.0.1", strict_port, graceful_shutdown_seconds=1, log_level="warning"),
        env={"READY_REQUIRES_WORKER": "true"},
    )
    strict = f"http://127.0.0.1:{strict_port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if _ready(strict).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, ready_stack.logs()
        time.sleep(0.2)

    # A worker killed outright leaves its row: it goes stale after WORKER_STALE_SECONDS.
    killed = time.monotonic()
    ready_stack.kill("worker", signal.SIGKILL)
    gone = _workers_when(ready_stack.api_url, False, STALE + 5)
    assert time.monotonic() - killed >= STALE - 1
    assert gone["live"] == 0
    lenient = _ready(ready_stack.api_url)
    assert lenient.status_code == 200 and lenient.json()["status"] == "ok"
    refused = _ready(strict)
    assert refused.status_code == 503 and refused.headers["Retry-After"]
    assert refused.json()["checks"]["database"]["ok"] is True

    # A new worker is seen within a heartbeat; one stopped cleanly takes its row with it.
    ready_stack.start_worker("second")
    _workers_when(ready_stack.api_url, True, 10)
    assert _ready(strict).status_code == 200
    ready_stack.kill("second", signal.SIGTERM)
    assert _ready(ready_stack.api_url).json()["checks"]["workers"]["ok"] is False
