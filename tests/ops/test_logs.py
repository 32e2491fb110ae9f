"""LOG_FORMAT=json: every line of a turn names its run, conversation, request and task; and no
password, token, API key or webhook secret ever reaches a log line of any process."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fakellm import FakeLLM
from tests.api.signin import PASSWORD, bearer, login, new_username, register
from tests.conftest import TIERS, running_stack
from tests.stack import TEST_SECRET, Stack, free_port


@pytest.fixture(params=TIERS)
def json_stack(request: pytest.FixtureRequest, llm: FakeLLM, tmp_path: Path) -> Iterator[Stack]:
    env = {"LOG_FORMAT": "json", "WEBHOOK_RETRY_SCHEDULE": "1"}
    with running_stack(request, str(request.param), tmp_path, llm, extra_env=env) as s:
        yield s


def _json_lines(stack: Stack) -> list[dict[str, Any]]:
    """The log records of every process (Celery's start-up banner is plain print: skipped)."""
    records = []
    for path in stack.workdir.glob("*.log"):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                records.append(json.loads(line))
    return records


def test_a_turn_logs_its_ids_and_no_secret(json_stack: Stack) -> None:
    http = httpx.Client(base_url=json_stack.api_url, timeout=60)
    username = new_username()
    register(http, username)
    assert login(http, username, "not the password").status_code == 401
    tokens = login(http, username).json()
    user = bearer(json_stack, tokens["access_token"])
    created = user.post(
        "/v1/api-keys",
        json={"name": "logs", "scopes": ["runs:read", "runs:write", "webhooks:manage"]},
    )
    assert created.status_code == 201, created.text
    api_key = created.json()["key"]
    webhook_secret = user.get("/v1/webhook-secret").json()["secret"]
    refreshed = http.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text

    request_id = f"req-{uuid.uuid4().hex}"
    keyed = bearer(json_stack, api_key)
    submitted = keyed.post(
        "/v1/runs",
        json={
            "message": "Add a task to read the logs",
            "webhook_url": f"http://127.0.0.1:{free_port()}/hook",  # refused: retried, logged
        },
        headers={"X-Request-ID": request_id},
    )
    assert submitted.status_code == 202, submitted.text
    run = keyed.get(f"/v1/runs/{submitted.json()['id']}", params={"wait": 30}).json()
    assert run["status"] == "completed", run
    deliveries = keyed.get(f"/v1/runs/{run['id']}/webhook-deliveries", params={"wait": 0})
    assert deliveries.status_code == 200

    records = _json_lines(json_stack)
    assert records and all({"time", "level", "process", "message"} <= set(r) for r in records)
    of_run = [r for r in records if r.get("run_id") == run["id"]]
    started = [r for r in of_run if r["message"].endswith("started (attempt 1)")]
    assert started, of_run
    assert started[0]["conversation_id"] == run["conversation_id"]
    assert started[0]["request_id"] == request_id
    assert started[0]["task_id"]
    assert started[0]["process"].startswith("worker-")  # the Celery node name is kept
    succeeded = [r for r in of_run if r["logger"] == "celery.app.trace"]
    assert succeeded and all(r["task_id"] == started[0]["task_id"] for r in succeeded)

    everything = "\n".join(p.read_text(errors="replace") for p in json_stack.workdir.glob("*.log"))
    for secret in (
        PASSWORD,
        tokens["access_token"],
        tokens["refresh_token"],
        refreshed.json()["refresh_token"],
        api_key,
        webhook_secret.removeprefix("whsec_"),
        TEST_SECRET,
    ):
        assert secret not in everything, f"a secret reached the logs: {secret[:6]}…"
    for client in (http, user, keyed):
        client.close()
