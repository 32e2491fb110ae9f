"""The sweeper: runs whose broker message or worker was lost are picked up, or end clearly.

Runs are planted straight into the database, as they would be left by a lost publish or a
worker that died holding them; beat's sweeper (every second in tests) must take it from there.
"""

from __future__ import annotations

import pytest

from tests.stack import Api, Stack
from tests.worker.support import ago, insert_run, new_conversation, tag

RUN_MAX_ATTEMPTS = 3  # the default; the stack does not override it


@pytest.mark.parametrize("dispatched_seconds_ago", [None, 3600])
def test_a_queued_run_whose_message_was_lost_is_run_by_the_sweeper(
    api: Api, stack: Stack, dispatched_seconds_ago: float | None
) -> None:
    title = f"find the lost run {tag()}"
    dispatched_at = None if dispatched_seconds_ago is None else ago(dispatched_seconds_ago)
    run_id = insert_run(
        stack,
        api.user,
        new_conversation(api),
        f"Add a task to {title}",
        status="queued",
        dispatched_at=dispatched_at,
    )
    run = api.wait(run_id, 30)
    assert run["status"] == "completed", run
    assert [t["title"] for t in api.get("/v1/tasks").json()["data"]] == [title]
    assert [m["role"] for m in api.messages(run["conversation_id"])] == ["user", "assistant"]


def test_a_run_whose_worker_died_is_run_again(api: Api, stack: Stack) -> None:
    title = f"second chance {tag()}"
    run_id = insert_run(
        stack,
        api.user,
        new_conversation(api),
        f"Add a task to {title}",
        status="in_progress",
        attempts=1,
        lease_token="dead-worker",
        lease_until=ago(5),
        started_at=ago(10),
        dispatched_at=ago(10),
    )
    run = api.wait(run_id, 30)
    assert run["status"] == "completed", run
    [(attempts,)] = stack.sql("select attempts from runs where id = :id", id=run_id)
    assert attempts == 2
    assert [t["title"] for t in api.get("/v1/tasks").json()["data"]] == [title]


def test_a_run_that_keeps_losing_its_worker_fails_and_frees_the_conversation(
    api: Api, stack: Stack
) -> None:
    conversation_id = new_conversation(api)
    stuck = insert_run(
        stack,
        api.user,
        conversation_id,
        "Add a task to crash the worker again",
        status="in_progress",
        attempts=RUN_MAX_ATTEMPTS,
        lease_token="dead-worker",
        lease_until=ago(5),
        started_at=ago(60),
        dispatched_at=ago(60),
    )
    # Queued behind the stuck run: it may only start once that one has ended.
    behind = api.submit("what now", conversation_id=conversation_id)
    assert behind["status"] == "queued"

    failed = api.wait(stuck, 30)
    assert failed["status"] == "failed", failed
    assert failed["error"]["code"] == "worker_lost"
    assert f"lost {RUN_MAX_ATTEMPTS} times" in failed["error"]["message"]
    assert failed["finished_at"] is not None
    assert api.get("/v1/tasks").json()["data"] == []

    after = api.wait(behind["id"], 30)
    assert after["status"] == "completed", after
    assert after["output"]["response"] == "You said: what now"
