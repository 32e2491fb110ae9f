"""Cross-user isolation: someone else's id answers 404 on every route and changes nothing."""

from __future__ import annotations

from tests.api.conftest import count
from tests.stack import Api, Stack


def test_another_users_conversation_messages_and_runs_are_invisible(
    api: Api, other: Api, stack: Stack
) -> None:
    done = api.turn("Add a task to feed the cat")
    conversation, run_id = done["conversation_id"], done["id"]
    before_messages = api.messages(conversation)

    assert other.get(f"/v1/conversations/{conversation}").status_code == 404
    assert other.get(f"/v1/conversations/{conversation}/messages").status_code == 404
    assert other.delete(f"/v1/conversations/{conversation}").status_code == 404
    assert other.get(f"/v1/runs/{run_id}").status_code == 404
    assert other.get(f"/v1/runs/{run_id}", params={"wait": 1}).status_code == 404
    assert other.post(f"/v1/runs/{run_id}/cancel").status_code == 404  # not 409: no leak
    assert other.get("/v1/runs", params={"conversation_id": conversation}).json()["data"] == []
    assert other.get("/v1/runs").json()["data"] == []
    assert other.get("/v1/conversations").json()["data"] == []

    submitted = other.post("/v1/runs", json={"message": "hijack", "conversation_id": conversation})
    assert submitted.status_code == 404
    chat = other.post(
        f"/api/{other.user}/chat", json={"message": "hijack", "conversation_id": conversation}
    )
    assert chat.status_code == 404

    # Nothing changed for the owner, and the intruder got nothing created either.
    assert api.get(f"/v1/conversations/{conversation}").status_code == 200
    assert api.messages(conversation) == before_messages
    assert count(stack, "runs", conversation_id=conversation) == 1
    assert count(stack, "runs", user_id=other.user) == 0
    assert count(stack, "conversations", user_id=other.user) == 0
    assert not any(
        any(m.get("content") == "hijack" for m in r["messages"]) for r in stack.llm.requests
    )


def test_another_user_cannot_cancel_an_active_run(api: Api, other: Api) -> None:
    run = api.submit("[[latency=1.5]] let me finish")
    assert other.post(f"/v1/runs/{run['id']}/cancel").status_code == 404
    assert api.wait(run["id"])["status"] == "completed"


def test_another_users_tasks_are_invisible_and_untouched(api: Api, other: Api) -> None:
    task = api.post("/v1/tasks", json={"title": "private", "description": "mine"}).json()
    path = f"/v1/tasks/{task['id']}"

    assert other.get(path).status_code == 404
    assert other.patch(path, json={"title": "stolen", "completed": True}).status_code == 404
    assert other.delete(path).status_code == 404
    assert other.get("/v1/tasks").json()["data"] == []
    assert api.get(path).json() == task

    # The tools act for the run's user only: the other user's agent cannot complete it either.
    turn = other.turn(f"complete task {task['id']}")
    assert turn["status"] == "completed"
    assert turn["output"]["tool_calls"][0]["is_error"] is True
    assert api.get(path).json() == task
