"""With WEBHOOK_ALLOW_PRIVATE=false (the default), inside destinations are refused: at submit
with a 422, and again when the delivery connects (the worker re-resolves and re-checks)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from fakellm import FakeLLM
from tests.conftest import TIERS
from tests.stack import Api, Stack
from tests.webhooks.conftest import delivery_log, start_stack, wait_delivery
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_webhook_urls import NOT_HTTP

INSIDE = [
    "http://127.0.0.1:8080/hook",
    "http://10.0.0.5/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://localhost:8080/hook",  # a name that resolves to loopback
    "http://[::1]:8080/hook",  # IPv6 loopback
    "http://[::ffff:127.0.0.1]/hook",
    "http://2130706433/hook",
]


@pytest.fixture(scope="module", params=TIERS)
def strict_stack(
    request: pytest.FixtureRequest, llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    yield from start_stack(request, llm, tmp_path_factory, {"WEBHOOK_ALLOW_PRIVATE": "false"})


@pytest.fixture
def client(strict_stack: Stack) -> Iterator[Api]:
    api = strict_stack.client()
    yield api
    api.close()


@pytest.mark.parametrize("url", INSIDE + NOT_HTTP)
def test_inside_or_non_http_destinations_are_refused_at_submit(
    client: Api, strict_stack: Stack, url: str
) -> None:
    response = client.post("/v1/runs", json={"message": "hello", "webhook_url": url})
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "webhook_url"]
    if url in INSIDE:
        assert "WEBHOOK_ALLOW_PRIVATE" in error["msg"]
    assert strict_stack.sql("SELECT COUNT(*) FROM runs WHERE user_id = :u", u=client.user) == [(0,)]


def test_a_destination_that_turns_private_is_refused_when_delivering(
    client: Api, strict_stack: Stack
) -> None:
    receiver = Receiver().start()
    try:
        # Public at submit; by the time the run ends it points inside (as a DNS change would).
        run = client.submit("[[latency=3]] hello", webhook_url="http://8.8.8.8:9/hook")
        strict_stack.sql(
            "UPDATE runs SET webhook_url = :url WHERE id = :id",
            url=receiver.url("/inside"),
            id=run["id"],
        )
        client.wait(run["id"])
        log = wait_delivery(client, run["id"], "failed")
        [attempt] = log["data"]
        assert attempt["status_code"] is None
        assert "loopback" in attempt["error"] and "WEBHOOK_ALLOW_PRIVATE" in attempt["error"]
        time.sleep(1)  # a refusal is final: no retry comes
        assert len(delivery_log(client, run["id"])["data"]) == 1
        assert receiver.requests("/inside") == []
    finally:
        receiver.stop()
