"""The offline model end to end: no OPENAI_API_KEY, and turns still manage the todo list."""

from __future__ import annotations

from typing import Any

import httpx

from tests.worker.conftest import StackFactory


def test_offline_stack_runs_todo_turns_without_an_llm(private_stack: StackFactory) -> None:
    stack = private_stack(offline=True)
    assert "OPENAI_API_KEY" not in stack.env

    ready = httpx.get(f"{stack.api_url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json()["model"]["offline"] is True
    assert "offline" in ready.json()["model"]["name"]

    with stack.client() as api:
        added = api.turn("Add a task to buy groceries")
        assert added["status"] == "completed", added
        [call] = added["output"]["tool_calls"]
        assert call["tool_name"] == "add_task" and call["arguments"] == {"title": "Buy groceries"}
        task_id = call["result"]["task_id"]
        assert task_id == 1  # the user's own numbering, whatever other users have
        assert added["output"]["response"] == (
            f'I\'ve added "Buy groceries" to your tasks (task {task_id}).'
        )
        assert added["usage"] is None

        meeting = api.turn("Add a task: team meeting", conversation_id=added["conversation_id"])
        assert meeting["status"] == "completed", meeting
        meeting_id = meeting["output"]["tool_calls"][0]["result"]["task_id"]
        assert meeting_id == 2

        deleted = api.turn("Delete the meeting task", conversation_id=added["conversation_id"])
        assert deleted["status"] == "completed", deleted
        calls = deleted["output"]["tool_calls"]
        assert [c["tool_name"] for c in calls] == ["list_tasks", "delete_task"]
        assert calls[1]["arguments"] == {"task_id": meeting_id}
        assert deleted["output"]["response"] == f'Deleted task {meeting_id} "Team meeting".'
        assert [t["title"] for t in api.get("/v1/tasks").json()["data"]] == ["Buy groceries"]

        roles = [m["role"] for m in api.messages(added["conversation_id"])]
        assert roles == ["user", "assistant"] * 3

        # Earlier turns come back as history: the list shown, then "the second one", "undo that".
        def say(text: str, conversation: str | None) -> dict[str, Any]:
            run = api.turn(text, **({"conversation_id": conversation} if conversation else {}))
            assert run["status"] == "completed", run
            return run

        first = say("Add a task to call mom", None)
        chat = str(first["conversation_id"])
        listed = say("show my tasks", chat)["output"]["response"]
        assert listed == "You have 2 tasks: 1. Buy groceries (pending), 3. Call mom (pending)."
        done = say("I finished the second one", chat)["output"]["tool_calls"]
        assert [(c["tool_name"], c["arguments"]) for c in done] == [
            ("complete_task", {"task_id": 3})
        ]
        undone = say("undo that", chat)["output"]
        assert [(c["tool_name"], c["arguments"]) for c in undone["tool_calls"]] == [
            ("update_task", {"task_id": 3, "completed": False})
        ]
        assert undone["response"] == 'Reopened task 3 "Call mom": it\'s marked as not done.'
        bought = say("I bought the groceries", chat)["output"]["response"]
        assert bought == 'Marked task 1 "Buy groceries" as complete.'
        tasks = api.get("/v1/tasks").json()["data"]
        assert [(t["title"], t["completed"]) for t in tasks] == [
            ("Buy groceries", True),
            ("Call mom", False),
        ]
    assert "offline" in stack.procs["worker"].log()
