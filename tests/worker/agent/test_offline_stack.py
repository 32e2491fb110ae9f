"""The offline model end to end: no OPENAI_API_KEY, and turns still manage the todo list."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fakellm import FakeLLM
from tests.conftest import TIERS, running_stack
from tests.stack import Stack


@pytest.fixture(scope="module", params=TIERS)
def stack(
    request: pytest.FixtureRequest, llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """A stack of its own with no OPENAI_API_KEY (the offline model)."""
    workdir = tmp_path_factory.mktemp(f"offline-{request.param}")
    with running_stack(request, str(request.param), workdir, llm, offline=True) as s:
        yield s


def test_offline_stack_runs_todo_turns_without_an_llm(stack: Stack) -> None:
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


def test_a_custom_agent_fails_with_model_unavailable_rather_than_pretending(stack: Stack) -> None:
    with stack.client() as api:
        body = {"name": "Chef", "instructions": "Plan meals.", "tools": [{"type": "todo"}]}
        agent = api.post("/v1/agents", json=body).json()
        run = api.turn("Add a task to buy flour", agent_id=agent["id"])
        assert run["status"] == "failed", run
        assert run["error"]["code"] == "model_unavailable"
        assert "OPENAI_API_KEY" in run["error"]["message"]
        assert run["output"] is None and (run["agent_id"], run["agent_version"]) == (agent["id"], 1)
        assert api.get("/v1/tasks").json()["data"] == []
        # The default agent keeps the offline model.
        default = api.turn("Add a task to buy flour")
        assert default["status"] == "completed", default
        assert [t["title"] for t in api.get("/v1/tasks").json()["data"]] == ["Buy flour"]
