"""A chat turn end to end: submit, the worker runs it with MCP tools, the client polls."""

from __future__ import annotations

import time
import uuid

from tests.api.conftest import count
from tests.stack import Api, Stack


def test_turn_adds_a_task_and_reports_the_tool_call(api: Api) -> None:
    started = time.monotonic()
    response = api.post("/v1/runs", json={"message": "Add a task to buy milk"})
    assert response.status_code == 202, response.text
    run = response.json()
    assert response.headers["Location"] == f"/v1/runs/{run['id']}"
    assert run["status"] == "queued" and run["object"] == "run"
    assert time.monotonic() - started < 2

    done = api.wait(run["id"])
    assert done["status"] == "completed", done
    calls = done["output"]["tool_calls"]
    assert [c["tool_name"] for c in calls] == ["add_task"]
    assert calls[0]["arguments"] == {"title": "buy milk"}
    assert calls[0]["result"]["status"] == "created" and calls[0]["is_error"] is False
    assert "buy milk" in done["output"]["response"]
    assert done["usage"]["total_tokens"] > 0

    tasks = api.get("/v1/tasks").json()["data"]
    assert [t["title"] for t in tasks] == ["buy milk"]


def test_second_turn_sees_the_history(api: Api, stack: Stack) -> None:
    first = api.turn("Add a task to call mom")
    second = api.turn("show my tasks", conversation_id=first["conversation_id"])
    assert second["status"] == "completed"
    assert "call mom" in second["output"]["response"]
    sent = [
        r
        for r in stack.llm.requests
        if any(m.get("content") == "show my tasks" for m in r["messages"])
    ][-1]
    contents = [m.get("content") for m in sent["messages"]]
    assert "Add a task to call mom" in contents
    roles = [m["role"] for m in api.messages(first["conversation_id"])]
    assert roles == ["user", "assistant", "user", "assistant"]


RUN_FIELDS = {
    "id",
    "object",
    "conversation_id",
    "status",
    "input",
    "output",
    "error",
    "usage",
    "metadata",
    "webhook_url",
    "agent_id",
    "agent_version",
    "required_action",
    "created_at",
    "started_at",
    "finished_at",
}


def test_submit_answers_the_run_shape_and_creates_a_conversation(api: Api, stack: Stack) -> None:
    response = api.post("/v1/runs", json={"message": "hello", "metadata": {"k": "v"}})
    assert response.status_code == 202, response.text
    run = response.json()
    assert set(run) == RUN_FIELDS
    assert run["input"] == {"message": "hello"} and run["metadata"] == {"k": "v"}
    assert run["output"] is None and run["error"] is None and run["finished_at"] is None
    assert run["agent_id"] is None and run["agent_version"] is None  # the built-in agent
    assert run["required_action"] is None  # set only while it waits for approval
    assert response.headers["Location"] == f"/v1/runs/{run['id']}"
    conversation = api.get(f"/v1/conversations/{run['conversation_id']}")
    assert conversation.status_code == 200
    done = api.wait(run["id"])
    assert done["status"] == "completed" and done["output"]["response"] == "You said: hello"
    assert done["started_at"] is not None and done["finished_at"] is not None
    assert set(done["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}


def test_get_unknown_run_is_404_even_with_wait(api: Api) -> None:
    started = time.monotonic()
    response = api.get("/v1/runs/run_doesnotexist", params={"wait": 30})
    assert response.status_code == 404 and response.json() == {"detail": "run not found"}
    assert time.monotonic() - started < 20  # a missing run is not waited out (30 s)
    assert api.post("/v1/runs/run_doesnotexist/cancel").status_code == 404


def test_wait_returns_the_current_state_when_time_runs_out(api: Api) -> None:
    run = api.submit("[[latency=3]] slow one")
    current = api.get(f"/v1/runs/{run['id']}", params={"wait": 0.2}).json()
    assert current["status"] in ("queued", "in_progress")
    assert api.wait(run["id"])["status"] == "completed"


def test_list_filters_by_conversation_and_status_and_pages_newest_first(api: Api) -> None:
    first = api.turn("one")
    conversation = first["conversation_id"]
    second = api.turn("two", conversation_id=conversation)
    third = api.turn("three", conversation_id=conversation)
    elsewhere = api.turn("four")

    everything = api.get("/v1/runs").json()
    assert [r["id"] for r in everything["data"]] == [
        elsewhere["id"],
        third["id"],
        second["id"],
        first["id"],
    ]
    assert everything["has_more"] is False and everything["next_cursor"] is None

    in_conversation = api.get("/v1/runs", params={"conversation_id": conversation}).json()
    assert [r["id"] for r in in_conversation["data"]] == [third["id"], second["id"], first["id"]]

    completed = api.get("/v1/runs", params={"status": "completed"}).json()
    assert len(completed["data"]) == 4
    assert api.get("/v1/runs", params={"status": "failed"}).json()["data"] == []
    assert api.get("/v1/runs", params={"conversation_id": "conv_unknown"}).json()["data"] == []

    page1 = api.get("/v1/runs", params={"limit": 3}).json()
    assert page1["has_more"] is True and page1["next_cursor"] == second["id"]
    page2 = api.get("/v1/runs", params={"limit": 3, "after": page1["next_cursor"]}).json()
    assert [r["id"] for r in page2["data"]] == [first["id"]] and page2["has_more"] is False


def test_cancel_a_queued_run_then_a_terminal_one_is_409(api: Api, stack: Stack) -> None:
    slow = api.submit("[[latency=3]] take your time")
    queued = api.submit("after the slow one", conversation_id=slow["conversation_id"])
    assert api.get(f"/v1/runs/{queued['id']}").json()["status"] == "queued"

    response = api.post(f"/v1/runs/{queued['id']}/cancel")
    assert response.status_code == 200, response.text
    cancelled = response.json()
    assert set(cancelled) == RUN_FIELDS
    assert cancelled["status"] == "cancelled" and cancelled["finished_at"] is not None
    assert cancelled["started_at"] is None and cancelled["output"] is None

    again = api.post(f"/v1/runs/{queued['id']}/cancel")
    assert again.status_code == 409 and "cancelled" in again.json()["detail"]

    done = api.wait(slow["id"])
    assert done["status"] == "completed"
    assert api.get(f"/v1/runs/{queued['id']}").json()["status"] == "cancelled"
    after_end = api.post(f"/v1/runs/{slow['id']}/cancel")
    assert after_end.status_code == 409 and "completed" in after_end.json()["detail"]
    # The cancelled turn never reached the model and left no reply.
    assert not any(
        any(m.get("content") == "after the slow one" for m in r["messages"])
        for r in stack.llm.requests
    )
    roles = [m["role"] for m in api.messages(slow["conversation_id"])]
    assert roles == ["user", "assistant"]


def test_idempotency_key_replays_the_original_run(api: Api, stack: Stack) -> None:
    key = f"idem-{uuid.uuid4()}"
    body = {"message": "Add a task to pay rent", "metadata": {"try": 1}}
    first = api.post("/v1/runs", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == 202 and "Idempotent-Replayed" not in first.headers
    again = api.post("/v1/runs", json=body, headers={"Idempotency-Key": key})
    assert again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Location"] == f"/v1/runs/{first.json()['id']}"
    assert count(stack, "runs", user_id=api.user) == 1
    assert count(stack, "conversations", user_id=api.user) == 1

    different = api.post(
        "/v1/runs", json={**body, "message": "something else"}, headers={"Idempotency-Key": key}
    )
    assert different.status_code == 409 and "Idempotency-Key" in different.json()["detail"]
    assert count(stack, "runs", user_id=api.user) == 1

    assert api.wait(first.json()["id"])["status"] == "completed"
    replay_after_end = api.post("/v1/runs", json=body, headers={"Idempotency-Key": key})
    assert replay_after_end.status_code == 200
    assert replay_after_end.json()["status"] == "completed"
    assert [t["title"] for t in api.get("/v1/tasks").json()["data"]] == ["pay rent"]


def test_idempotency_keys_are_per_user(api: Api, other: Api, stack: Stack) -> None:
    key = f"shared-{uuid.uuid4()}"
    mine = api.post("/v1/runs", json={"message": "hi"}, headers={"Idempotency-Key": key})
    theirs = other.post("/v1/runs", json={"message": "hi"}, headers={"Idempotency-Key": key})
    assert mine.status_code == 202 and theirs.status_code == 202
    assert mine.json()["id"] != theirs.json()["id"]
    # A different body under the other user's key is not a conflict with mine.
    third = other.post("/v1/runs", json={"message": "bye"}, headers={"Idempotency-Key": key})
    assert third.status_code == 409
    assert count(stack, "runs", user_id=api.user) == 1
    assert count(stack, "runs", user_id=other.user) == 1


def test_idempotency_key_header_is_validated(api: Api, stack: Stack) -> None:
    too_long = api.post("/v1/runs", json={"message": "hi"}, headers={"Idempotency-Key": "k" * 256})
    assert too_long.status_code == 422
    empty = api.post("/v1/runs", json={"message": "hi"}, headers={"Idempotency-Key": ""})
    assert empty.status_code == 422
    assert count(stack, "runs", user_id=api.user) == 0
