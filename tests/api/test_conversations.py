"""Conversations and messages over REST (docs/api.md section 3)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from tests.api.conftest import count, create_conversation
from tests.stack import Api, Stack


def _utc(value: Any) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    assert parsed.utcoffset() == dt.timedelta(0), value
    return parsed


def test_create_and_get_a_conversation(api: Api) -> None:
    created = create_conversation(api, title="Groceries", metadata={"source": "test", "n": 3})
    assert set(created) == {"id", "title", "metadata", "created_at", "updated_at"}
    assert created["title"] == "Groceries"
    assert created["metadata"] == {"source": "test", "n": 3}
    assert isinstance(created["id"], str) and created["id"]
    _utc(created["created_at"]), _utc(created["updated_at"])

    fetched = api.get(f"/v1/conversations/{created['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == created


def test_create_with_an_empty_body_object(api: Api) -> None:
    created = create_conversation(api)
    assert created["title"] is None and created["metadata"] == {}


def test_unknown_conversation_is_404(api: Api) -> None:
    for path in ("/v1/conversations/conv_nope", "/v1/conversations/conv_nope/messages"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"detail": "conversation not found"}
    assert api.delete("/v1/conversations/conv_nope").status_code == 404


def test_list_pages_newest_first_without_gaps_or_duplicates(api: Api) -> None:
    created = [str(create_conversation(api, title=f"c{i}")["id"]) for i in range(25)]
    seen: list[str] = []
    pages = []
    after: str | None = None
    for _ in range(10):  # bounded: 3 pages expected
        params: dict[str, Any] = {"limit": 10}
        if after is not None:
            params["after"] = after
        page = api.get("/v1/conversations", params=params).json()
        pages.append(page)
        seen += [c["id"] for c in page["data"]]
        after = page["next_cursor"]
        if not page["has_more"]:
            break
    assert [len(p["data"]) for p in pages] == [10, 10, 5]
    assert [p["has_more"] for p in pages] == [True, True, False]
    assert pages[-1]["next_cursor"] is None
    assert pages[0]["next_cursor"] == pages[0]["data"][-1]["id"]
    assert seen == list(reversed(created))

    default = api.get("/v1/conversations").json()
    assert len(default["data"]) == 20 and default["has_more"] is True


def test_messages_are_listed_oldest_first_and_page(api: Api) -> None:
    first = api.turn("hello there")
    conversation = first["conversation_id"]
    api.turn("Add a task to water plants", conversation_id=conversation)

    messages = api.messages(conversation)
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[0]["content"] == "hello there"
    assert [m["id"] for m in messages] == sorted(m["id"] for m in messages)
    created = [_utc(m["created_at"]) for m in messages]
    assert created == sorted(created)
    for message in messages:
        assert set(message) == {
            "id",
            "conversation_id",
            "run_id",
            "role",
            "content",
            "tool_calls",
            "status",
            "created_at",
        }
        assert message["conversation_id"] == conversation
        assert message["status"] == "completed"
    assert messages[0]["run_id"] == messages[1]["run_id"] == first["id"]
    calls = messages[3]["tool_calls"]
    assert [c["tool_name"] for c in calls] == ["add_task"]
    assert set(calls[0]) == {"id", "tool_name", "arguments", "result", "is_error"}

    paged: list[str] = []
    after: str | None = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 1}
        if after is not None:
            params["after"] = after
        page = api.get(f"/v1/conversations/{conversation}/messages", params=params).json()
        paged += [m["id"] for m in page["data"]]
        after = page["next_cursor"]
        if not page["has_more"]:
            break
    assert paged == [m["id"] for m in messages]


def test_delete_takes_messages_and_runs_with_it(api: Api, stack: Stack) -> None:
    run = api.turn("Add a task to buy bread")
    conversation = run["conversation_id"]
    assert count(stack, "messages", conversation_id=conversation) == 2
    assert count(stack, "tool_calls", run_id=run["id"]) == 1

    response = api.delete(f"/v1/conversations/{conversation}")
    assert response.status_code == 204 and response.content == b""

    assert api.get(f"/v1/conversations/{conversation}").status_code == 404
    assert api.get(f"/v1/conversations/{conversation}/messages").status_code == 404
    assert api.get(f"/v1/runs/{run['id']}").status_code == 404
    assert api.post(f"/v1/runs/{run['id']}/cancel").status_code == 404
    listed = api.get("/v1/runs", params={"conversation_id": conversation}).json()
    assert listed["data"] == []
    assert count(stack, "messages", conversation_id=conversation) == 0
    assert count(stack, "runs", conversation_id=conversation) == 0
    assert count(stack, "tool_calls", run_id=run["id"]) == 0
    # The task the turn created is the user's, not the conversation's: it stays.
    assert [t["title"] for t in api.get("/v1/tasks").json()["data"]] == ["buy bread"]
    assert api.delete(f"/v1/conversations/{conversation}").status_code == 404


def test_submitting_to_a_conversation_touches_updated_at(api: Api) -> None:
    created = create_conversation(api, title="t")
    api.turn("hi", conversation_id=created["id"])
    fetched = api.get(f"/v1/conversations/{created['id']}").json()
    assert _utc(fetched["updated_at"]) >= _utc(created["updated_at"])
    assert fetched["created_at"] == created["created_at"]


def test_deleting_a_conversation_while_its_turn_streams(api: Api) -> None:
    run = api.submit("a long story [[stream=40,0.1]]")
    deadline = time.monotonic() + 30
    while api.get(f"/v1/runs/{run['id']}").json()["status"] != "in_progress":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)  # the worker is writing deltas now
    deleted = api.delete(f"/v1/conversations/{run['conversation_id']}")
    assert deleted.status_code == 204, deleted.text
    assert api.get(f"/v1/runs/{run['id']}").status_code == 404
    # The worker gives the run up; the user's next turn runs normally.
    assert api.turn("Add a task to move on")["status"] == "completed"


def test_deleting_a_conversation_as_its_turn_starts(api: Api) -> None:
    """Submit and delete at once, so the delete meets the worker's claim transaction."""
    for i in range(30):
        run = api.submit(f"Add a task to race {i}")
        deleted = api.delete(f"/v1/conversations/{run['conversation_id']}")
        assert deleted.status_code == 204, deleted.text
    assert api.turn("Add a task to move on")["status"] == "completed"
