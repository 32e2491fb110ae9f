"""Stacks tuned for webhook tests (fast retries, few worker threads) and a real receiver."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from fakellm import FakeLLM
from tests.conftest import TIERS, build_stack, teardown_stack
from tests.stack import Api, Stack
from tests.webhooks.receiver import Receiver

# 4 attempts, retried within 0.3 s (full jitter); a stalled receiver is cut after 8 s.
DELIVERY_ENV = {"WEBHOOK_RETRY_SCHEDULE": "0.3,0.3,0.3", "WEBHOOK_TIMEOUT_SECONDS": "8"}
# Few threads: a design that parked a pool thread per delivery would starve turns here.
WORKER_THREADS = 4


def start_stack(
    request: pytest.FixtureRequest,
    llm: FakeLLM,
    tmp_path_factory: pytest.TempPathFactory,
    env: dict[str, str],
) -> Iterator[Stack]:
    tier = str(request.param)
    s = build_stack(tier, tmp_path_factory.mktemp(f"webhooks-{tier}"), llm, extra_env=env)
    try:
        s.start()
        s.kill("worker", signal.SIGTERM)
        s.start_worker(concurrency=WORKER_THREADS)
    except Exception:
        teardown_stack(s, failed=True)
        raise
    yield s
    teardown_stack(s, failed=request.session.testsfailed > 0)


@pytest.fixture(scope="module", params=TIERS)
def wh_stack(
    request: pytest.FixtureRequest, llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """A stack that allows private destinations (the receiver is on 127.0.0.1)."""
    yield from start_stack(request, llm, tmp_path_factory, DELIVERY_ENV)


@pytest.fixture
def client(wh_stack: Stack) -> Iterator[Api]:
    api = wh_stack.client()
    yield api
    api.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


def delivery_log(api: Api, run_id: str) -> dict[str, Any]:
    response = api.get(f"/v1/runs/{run_id}/webhook-deliveries")
    assert response.status_code == 200, response.text
    log: dict[str, Any] = response.json()
    return log


def wait_delivery(api: Api, run_id: str, status: str, timeout: float = 40) -> dict[str, Any]:
    """Poll the delivery log until the delivery reaches `status` (fails the test otherwise)."""
    deadline = time.monotonic() + timeout
    while True:
        log = delivery_log(api, run_id)
        if log["delivery"] is not None and log["delivery"]["status"] == status:
            return log
        assert time.monotonic() < deadline, f"delivery of {run_id} not {status}: {log}"
        time.sleep(0.1)
