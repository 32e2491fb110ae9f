"""The operator's commands against a real database: runs, webhooks, users, purge, doctor.

The stack runs without a worker, so submitted turns stay queued where the commands can steer
them; each command runs as `parley …` with the stack's environment.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from fakellm import FakeLLM
from tests.api.signin import PASSWORD, bearer, login, new_username
from tests.conftest import TIERS, running_stack
from tests.stack import BIN, ROOT, Stack


@pytest.fixture(scope="module", params=TIERS)
def idle(
    request: pytest.FixtureRequest, llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    tier = str(request.param)
    with running_stack(request, tier, tmp_path_factory.mktemp(f"ops-{tier}"), llm) as stack:
        stack.kill("worker", signal.SIGTERM)
        yield stack


def parley(
    stack: Stack, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "parley"), *args],
        cwd=ROOT,
        env={**stack.env, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def status_of(stack: Stack, run_id: str) -> str:
    return str(stack.sql("SELECT status FROM runs WHERE id = :id", id=run_id)[0][0])


def test_runs_list_show_cancel_and_retry(idle: Stack) -> None:
    api = idle.client()
    first = api.submit("Add a task to steer")
    second = api.submit("Add a task to steer again")

    listed = parley(idle, "runs", "list", "--user", api.user)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == [second["id"], first["id"]]
    assert all("\tqueued\t" in line for line in lines)

    shown = parley(idle, "runs", "show", first["id"])
    assert shown.returncode == 0, shown.stderr
    body = json.loads(shown.stdout)
    assert body["id"] == first["id"] and body["user_id"] == api.user
    assert body["input"] == {"message": "Add a task to steer"}

    assert parley(idle, "runs", "show", "run_missing").returncode == 1

    retried = parley(idle, "runs", "retry", first["id"])
    assert retried.returncode == 0 and "sent to the workers again" in retried.stdout

    cancelled = parley(idle, "runs", "cancel", first["id"])
    assert cancelled.returncode == 0, cancelled.stderr
    assert status_of(idle, first["id"]) == "cancelled"
    again = parley(idle, "runs", "cancel", first["id"])
    assert again.returncode == 1 and "already cancelled" in again.stderr

    resubmitted = parley(idle, "runs", "retry", first["id"])
    assert resubmitted.returncode == 0, resubmitted.stderr
    new_id = resubmitted.stdout.split()[-1]
    new = api.get(f"/v1/runs/{new_id}").json()
    assert new["status"] == "queued" and new["input"] == {"message": "Add a task to steer"}
    assert new["conversation_id"] == first["conversation_id"]
    api.close()


def test_webhooks_redeliver_needs_an_ended_run_with_a_url(idle: Stack) -> None:
    api = idle.client()
    run = api.submit("hello", webhook_url="http://127.0.0.1:9/hook")
    early = parley(idle, "webhooks", "redeliver", run["id"])
    assert early.returncode == 1 and early.stderr.startswith("error:")
    assert parley(idle, "runs", "cancel", run["id"]).returncode == 0
    sent = parley(idle, "webhooks", "redeliver", run["id"])
    assert sent.returncode == 0, sent.stderr
    assert "queued for delivery" in sent.stdout
    api.close()


def test_users_create_and_disable(idle: Stack) -> None:
    username = new_username()
    created = parley(idle, "users", "create", username, stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert created.returncode == 0, created.stderr
    assert PASSWORD not in created.stdout
    http = httpx.Client(base_url=idle.api_url, timeout=30)
    tokens = login(http, username).json()
    user = bearer(idle, tokens["access_token"])
    key = user.post("/v1/api-keys", json={"name": "ops", "scopes": ["runs:read"]}).json()["key"]
    assert bearer(idle, key).get("/v1/me").status_code == 200

    taken = parley(idle, "users", "create", username, env={"PARLEY_USER_PASSWORD": PASSWORD})
    assert taken.returncode == 1 and "taken" in taken.stderr

    disabled = parley(idle, "users", "disable", username.upper())
    assert disabled.returncode == 0 and "1 API key(s) revoked" in disabled.stdout
    assert login(http, username).status_code == 401
    assert bearer(idle, key).get("/v1/me").status_code == 401
    refused = http.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refused.status_code in (400, 401)
    assert parley(idle, "users", "disable", "nobody-here").returncode == 1
    http.close()


def test_purge_counts_then_deletes_only_idle_old_conversations(idle: Stack) -> None:
    api = idle.client()
    waiting = api.submit("still queued")
    ended = api.submit("cancel me")
    assert parley(idle, "runs", "cancel", ended["id"]).returncode == 0

    assert parley(idle, "purge", "--older-than", "soon").returncode == 2
    kept = parley(idle, "purge", "--older-than", "1d", "--yes")
    assert kept.returncode == 0 and "deleted: 0 conversations" in kept.stdout

    dry = parley(idle, "purge", "--older-than", "0s")
    assert dry.returncode == 0 and dry.stdout.startswith("would delete (add --yes):")
    assert api.get(f"/v1/conversations/{ended['conversation_id']}").status_code == 200

    done = parley(idle, "purge", "--older-than", "0s", "--yes")
    assert done.returncode == 0 and done.stdout.startswith("deleted:"), done.stderr
    assert api.get(f"/v1/conversations/{ended['conversation_id']}").status_code == 404
    assert idle.sql("SELECT count(*) FROM runs WHERE id = :id", id=ended["id"])[0][0] == 0
    # A conversation with a turn still waiting is never purged.
    assert api.get(f"/v1/conversations/{waiting['conversation_id']}").status_code == 200
    api.close()


def test_doctor_names_what_to_fix(idle: Stack) -> None:
    report = parley(idle, "doctor")
    lines = report.stdout.splitlines()
    for name in ("database", "migrations", "broker", "llm", "clock"):
        assert any(line.startswith(f"ok    {name}") for line in lines), report.stdout
    # No worker runs in this stack: that is the one failure, and it says what to do.
    assert report.returncode == 1
    assert any(line.startswith("FAIL  workers") for line in lines)
    assert "fix: start `parley worker`" in report.stdout

    idle.start_worker("doctor-worker")
    try:
        healthy = parley(idle, "doctor")
        assert healthy.returncode == 0, healthy.stdout
    finally:
        idle.kill("doctor-worker", signal.SIGTERM)

    broken = parley(idle, "doctor", env={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert broken.returncode == 1
    assert "fix: check OPENAI_BASE_URL" in broken.stdout
    assert "test-key" not in broken.stdout
