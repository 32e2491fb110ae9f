"""Redelivery and crashes: a run's messages and tool effects happen once, however it is delivered.

Duplicate deliveries are published through the stack's real broker from another process, and
the crash test SIGKILLs the worker mid-turn on a stack of its own.
"""

from __future__ import annotations

from tests.stack import Api, Stack
from tests.worker.conftest import StackFactory
from tests.worker.support import (
    Publisher,
    assert_one_turn,
    count,
    ledger,
    publish_execute,
    requests_for,
    run_row,
    tag,
    wait_for,
    wait_tasks_done,
)


def test_a_finished_run_delivered_again_changes_nothing(api: Api, stack: Stack) -> None:
    title = f"buy milk {tag()}"
    run = api.turn(f"Add a task to {title}")
    assert run["status"] == "completed", run
    before = run_row(stack, run["id"]), ledger(stack, run["id"])

    wait_tasks_done(stack, publish_execute(stack, run["id"], run["id"]))

    assert (run_row(stack, run["id"]), ledger(stack, run["id"])) == before
    assert api.get(f"/v1/runs/{run['id']}").json() == run
    assert_one_turn(api, stack, run, title)


def test_deliveries_racing_the_first_one_execute_the_run_once(api: Api, stack: Stack) -> None:
    title = f"buy eggs {tag()}"
    message = f"Add a task to {title}"
    with Publisher(stack) as publisher:
        submitted = api.submit(message)
        # Three more deliveries race the API's own, most likely while the run is still queued.
        duplicates = publisher.execute(*[submitted["id"]] * 3)
    run = api.wait(submitted["id"])
    wait_tasks_done(stack, duplicates)

    assert run["status"] == "completed", run
    assert run_row(stack, run["id"]).attempts == 1  # one claim among four deliveries
    assert_one_turn(api, stack, run, title)
    assert len(requests_for(stack.llm, message)) == 2  # one tool step, one answer


def test_a_delivery_while_the_run_is_in_progress_is_a_no_op(api: Api, stack: Stack) -> None:
    title = f"buy flour {tag()}"
    # The tool runs at once, then the model's answer takes 8 s: the run holds its lease.
    message = f"Add a task to {title} [[latency_after_tool=8,1]]"
    with Publisher(stack) as publisher:
        submitted = api.submit(message)
        wait_for(
            "the model call after the tool", lambda: len(requests_for(stack.llm, message)) == 2
        )
        duplicates = publisher.execute(submitted["id"], submitted["id"])
    wait_tasks_done(stack, duplicates)
    assert run_row(stack, submitted["id"]).status == "in_progress"  # refused, not run twice

    run = api.wait(submitted["id"])
    assert run["status"] == "completed", run
    assert run_row(stack, run["id"]).attempts == 1
    assert_one_turn(api, stack, run, title)
    assert len(requests_for(stack.llm, message)) == 2


def test_worker_killed_mid_turn_resumes_without_repeating_the_tool(
    private_stack: StackFactory,
) -> None:
    stack = private_stack()
    api = stack.client()
    title = f"buy bread {tag()}"
    # The tool runs at once; the model's answer after it hangs (once), so the kill lands there.
    message = f"Add a task to {title} [[latency_after_tool=60,1]]"
    submitted = api.submit(message)

    def task_exists() -> bool:
        return bool(api.get("/v1/tasks").json()["data"])

    wait_for("the tool to add the task", task_exists)
    wait_for("the model call after the tool", lambda: len(requests_for(stack.llm, message)) == 2)
    recorded = ledger(stack, submitted["id"])
    assert [row.status for row in recorded] == ["completed"]

    stack.kill("worker")  # SIGKILL: no shutdown, no ack, the lease just stops being renewed
    stack.start_worker()
    run = api.wait(submitted["id"], 60)

    assert run["status"] == "completed", run
    assert run_row(stack, run["id"]).attempts == 2
    assert ledger(stack, run["id"]) == recorded  # not re-executed, not rewritten
    assert_one_turn(api, stack, run, title)
    [call] = run["output"]["tool_calls"]
    assert call["tool_name"] == "add_task" and call["result"]["status"] == "created"
    assert title in run["output"]["response"]
    # The resumed attempt asked the model only for the answer, not for the tool step again.
    calls = requests_for(stack.llm, message)
    assert len(calls) == 3
    assert [m["role"] for m in calls[2]["messages"]][-2:] == ["assistant", "tool"]
    assert count(stack, "select count(*) from tasks") == 1


def test_a_run_past_its_time_limit_fails_and_frees_the_conversation(
    private_stack: StackFactory,
) -> None:
    stack = private_stack(extra_env={"RUN_TIMEOUT_SECONDS": "2"})
    api = stack.client()
    run = api.turn(f"think hard {tag()} [[latency=30]]")
    assert run["status"] == "failed", run
    assert run["error"]["code"] == "timeout" and "2 s" in run["error"]["message"]
    assert run["output"] is None

    after = api.turn("quick one", conversation_id=run["conversation_id"])
    assert after["status"] == "completed", after
    roles = [m["role"] for m in api.messages(run["conversation_id"])]
    assert roles == ["user", "user", "assistant"]
