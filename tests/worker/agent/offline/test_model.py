"""The model as the agent loop sees it: identity, streaming, and reading a whole conversation."""

from __future__ import annotations

import json

from tests.worker.agent.offline.support import (
    Message,
    TodoStore,
    complete,
    run_turn,
    seeded,
)
from worker.agent.model import ChatModel
from worker.agent.offline import OfflineModel

# --- the model's identity ------------------------------------------------------------------


def test_model_identity_and_protocol() -> None:
    model: ChatModel = OfflineModel()
    assert model.name == "offline-rules"
    assert model.offline is True


# --- streaming -----------------------------------------------------------------------------


def test_reply_is_streamed_in_word_sized_chunks() -> None:
    turn = run_turn("Show me all my tasks", seeded())
    assert len(turn.deltas) > 3
    assert "".join(turn.deltas) == turn.reply
    assert all(len(d.split()) == 1 for d in turn.deltas)


# --- a conversation --------------------------------------------------------------------------


def test_multi_turn_conversation() -> None:
    store = TodoStore()
    history: list[Message] = [{"role": "system", "content": "You manage the user's todo list."}]
    script = [
        ("Add a task to buy groceries", 'I\'ve added "Buy groceries" to your tasks (task 1).'),
        ("remind me to call mom", 'I\'ve added "Call mom" to your tasks (task 2).'),
        ("new task: team meeting prep", 'I\'ve added "Team meeting prep" to your tasks (task 3).'),
        ("Delete the meeting task", 'Deleted task 3 "Team meeting prep".'),
        ("I finished the groceries", 'Marked task 1 "Buy groceries" as complete.'),
        ("What's pending?", "You have 1 pending task: 2. Call mom."),
        ("rename task 2 to Call mom tonight", 'Updated task 2 to "Call mom tonight".'),
        ("thanks", "You're welcome! Anything else for your list?"),
        (
            "Show me all my tasks",
            "You have 2 tasks: 1. Buy groceries (done), 2. Call mom tonight (pending).",
        ),
        ("delete task 3", "I couldn't find task 3."),
    ]
    for text, reply in script:
        turn = run_turn(text, store, history=history)
        assert turn.reply == reply, text
        history = turn.messages
    assert store.titles() == ["Buy groceries", "Call mom tonight"]


def test_earlier_turns_do_not_leak_into_the_current_one() -> None:
    store = seeded()
    first = run_turn("delete task 1", store)
    second = run_turn("list my tasks", store, history=first.messages)
    assert second.calls == [("list_tasks", {"status": "all"})]
    again = run_turn("delete task 1", store, history=second.messages)
    assert again.calls == [("delete_task", {"task_id": 1})]
    assert again.reply == "I couldn't find task 1."


def test_content_parts_are_read_as_text() -> None:
    messages: list[Message] = [
        {"role": "user", "content": [{"type": "text", "text": "complete task 2"}]}
    ]
    reply, _ = complete(messages)
    assert [(c.name, json.loads(c.arguments)) for c in reply.tool_calls] == [
        ("complete_task", {"task_id": 2})
    ]
