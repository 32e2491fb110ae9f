"""The original synchronous chat API (docs/api.md section 8)."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import count
from tests.stack import Api, Stack


def _chat(api: Api, body: dict[str, object], user: str | None = None) -> dict[str, Any]:
    response = api.post(f"/api/{user or api.user}/chat", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_chat_answers_with_the_legacy_shape(api: Api) -> None:
    reply = _chat(api, {"message": "Add a task to buy eggs"})
    assert set(reply) == {"conversation_id", "response", "tool_calls"}
    assert isinstance(reply["conversation_id"], str)
    assert "buy eggs" in str(reply["response"])
    assert reply["tool_calls"] == [
        {
            "tool_name": "add_task",
            "parameters": {"title": "buy eggs"},
            "result": {
                "task_id": api.get("/v1/tasks").json()["data"][0]["id"],
                "status": "created",
                "title": "buy eggs",
            },
        }
    ]


def test_chat_continues_a_conversation(api: Api) -> None:
    first = _chat(api, {"message": "Add a task to call mom"})
    second = _chat(api, {"message": "show my tasks", "conversation_id": first["conversation_id"]})
    assert second["conversation_id"] == first["conversation_id"]
    assert "call mom" in str(second["response"])
    assert [t["tool_name"] for t in second["tool_calls"]] == ["list_tasks"]
    roles = [m["role"] for m in api.messages(str(first["conversation_id"]))]
    assert roles == ["user", "assistant", "user", "assistant"]
    # The same turns are visible as runs.
    runs = api.get("/v1/runs", params={"conversation_id": first["conversation_id"]}).json()
    assert [r["status"] for r in runs["data"]] == ["completed", "completed"]


def test_chat_for_another_user_id_is_403(api: Api, other: Api, stack: Stack) -> None:
    response = api.post(f"/api/{other.user}/chat", json={"message": "hello"})
    assert response.status_code == 403
    assert response.json() == {"detail": "user_id does not match the token"}
    assert count(stack, "runs", user_id=api.user) == 0
    assert count(stack, "runs", user_id=other.user) == 0


def test_chat_with_unknown_conversation_is_404_and_creates_nothing(api: Api, stack: Stack) -> None:
    response = api.post(
        f"/api/{api.user}/chat", json={"message": "hello", "conversation_id": "conv_missing"}
    )
    assert response.status_code == 404
    assert response.json() == {"detail": "conversation not found"}
    assert count(stack, "conversations", user_id=api.user) == 0
    assert count(stack, "runs", user_id=api.user) == 0


def test_chat_validates_its_body(api: Api, stack: Stack) -> None:
    for body in (
        {},
        {"message": ""},
        {"message": "   "},
        {"message": "x" * 32001},
        {"message": 7},
        {"message": "hi", "conversation_id": ""},
        {"message": "hi", "conversation_id": "c" * 41},
        {"message": "hi", "conversation_id": 12},
        {"message": "hi", "user_id": "someone"},
        {"message": "hi", "multitask_strategy": "enqueue"},
        {"message": "nul \x00 inside"},
    ):
        response = api.post(f"/api/{api.user}/chat", json=body)
        assert response.status_code == 422, (body, response.text)
        assert isinstance(response.json()["detail"], list)
    not_json = api.post(
        f"/api/{api.user}/chat", content=b"message=hi", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code == 422
    assert count(stack, "conversations", user_id=api.user) == 0
