"""A chat turn end to end: submit, the worker runs it with MCP tools, the client polls."""

from __future__ import annotations

import time

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
