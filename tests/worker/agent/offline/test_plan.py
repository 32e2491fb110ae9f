"""Plans by task number, the tools on offer, and replays that must decide the same again."""

from __future__ import annotations

import pytest

from tests.worker.agent.offline.support import (
    Message,
    TodoStore,
    assistant_calls,
    complete,
    run_turn,
    seeded,
    tools_without,
)

# --- completing, deleting, updating by number ------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Mark task 3 as complete",
        "mark task #3 done",
        "complete task 3",
        "I finished task 3",
        "task 3 is done",
        "Please check off task 3.",
        "I'm done with task 3",
        "set task 3 to done",
        "I need to complete task 3",
    ],
)
def test_complete_by_number(text: str) -> None:
    store = seeded()
    turn = run_turn(text, store)
    assert turn.calls == [("complete_task", {"task_id": 3})]
    assert turn.reply == 'Marked task 3 "Team meeting" as complete.'
    assert store.get(3)["completed"] is True


@pytest.mark.parametrize(
    "text", ["Delete task 3", "remove task #3", "Could you remove task number 3 from my list?"]
)
def test_delete_by_number(text: str) -> None:
    store = seeded()
    turn = run_turn(text, store)
    assert turn.calls == [("delete_task", {"task_id": 3})]
    assert turn.reply == 'Deleted task 3 "Team meeting".'
    assert store.titles() == ["Buy milk", "Pay bills"]


@pytest.mark.parametrize(
    "text",
    [
        "Change task 1 to 'Call mom tonight'",
        "rename task 1 to Call mom tonight",
        'update task 1 title to "Call mom tonight"',
        "change the title of task 1 to call mom tonight",
    ],
)
def test_update_title(text: str) -> None:
    store = seeded()
    turn = run_turn(text, store)
    assert turn.calls == [("update_task", {"task_id": 1, "title": "Call mom tonight"})]
    assert turn.reply == 'Updated task 1 to "Call mom tonight".'
    assert store.get(1)["title"] == "Call mom tonight"


@pytest.mark.parametrize(
    "text",
    ["update task 2 description to use the app", "Set the description of task 2 to use the app"],
)
def test_update_description(text: str) -> None:
    store = seeded()
    turn = run_turn(text, store)
    assert turn.calls == [("update_task", {"task_id": 2, "description": "use the app"})]
    assert turn.reply == 'Updated the description of task 2 "Pay bills" to "use the app".'
    assert store.get(2)["description"] == "use the app"


@pytest.mark.parametrize(
    ("text", "tool"),
    [
        ("Mark task 9 as complete", "complete_task"),
        ("delete task 9", "delete_task"),
        ("rename task 9 to Something", "update_task"),
    ],
)
def test_unknown_task_number_is_reported(text: str, tool: str) -> None:
    store = seeded()
    turn = run_turn(text, store)
    assert [name for name, _ in turn.calls] == [tool]
    assert turn.reply == "I couldn't find task 9."
    assert len(store.tasks) == 3


def test_other_tool_errors_are_reported() -> None:
    turn = run_turn("delete task 2", TodoStore("Pay bills", fail_with="database is locked"))
    assert turn.reply == "Sorry, I couldn't delete task 2: database is locked."
    turn = run_turn("add a task to buy milk", TodoStore(fail_with="title too long"))
    assert turn.reply == 'Sorry, I couldn\'t add "Buy milk": title too long.'


# --- tools on offer ------------------------------------------------------------------------


def test_only_offered_tools_are_called() -> None:
    store = seeded()
    turn = run_turn("delete task 3", store, tools=tools_without("delete_task"))
    assert turn.calls == []
    assert "delete_task tool isn't available" in turn.reply
    assert run_turn("add a task to x", store, tools=[]).calls == []
    assert len(store.tasks) == 3


def test_by_name_without_list_tasks_asks_for_the_number() -> None:
    turn = run_turn("complete the milk task", seeded(), tools=tools_without("list_tasks"))
    assert turn.calls == []
    assert "Which task do you mean" in turn.reply


# --- statelessness and replay ----------------------------------------------------------------


def test_replaying_any_prefix_of_a_turn_gives_the_same_decision() -> None:
    turn = run_turn("Delete the meeting task", seeded())
    assert len(turn.calls) == 2
    user_at = max(i for i, m in enumerate(turn.messages) if m["role"] == "user")
    for end in range(user_at + 1, len(turn.messages)):
        if turn.messages[end]["role"] != "assistant":
            continue
        replayed, _ = complete(turn.messages[:end])
        again, _ = complete([dict(m) for m in turn.messages[:end]])
        assert replayed == again
        message = turn.messages[end]
        if message.get("tool_calls"):
            assert [c.id for c in replayed.tool_calls] == [c["id"] for c in message["tool_calls"]]
            assert replayed.tool_calls[0].name == message["tool_calls"][0]["function"]["name"]
        else:
            assert replayed.content == message["content"]


def test_tool_call_ids_differ_between_steps_and_turns() -> None:
    store = seeded()
    first = run_turn("delete the milk task", store)
    second = run_turn("list my tasks", store, history=first.messages)
    third = run_turn("list my tasks", store, history=second.messages)
    ids = [c["id"] for m in third.messages for c in m.get("tool_calls") or []]
    assert len(ids) == 4 and len(set(ids)) == 4


def test_a_change_whose_result_is_missing_is_not_repeated() -> None:
    messages: list[Message] = [{"role": "user", "content": "delete task 2"}]
    first, _ = complete(messages)
    messages.append(assistant_calls(first))  # ...and the crash lost its result
    reply, deltas = complete(messages)
    assert reply.tool_calls == []
    assert "task 2" in reply.content and "".join(deltas) == reply.content


def test_a_lookup_whose_result_is_missing_is_retried_once() -> None:
    messages: list[Message] = [{"role": "user", "content": "delete the milk task"}]
    for _ in range(2):
        reply, _ = complete(messages)
        assert [c.name for c in reply.tool_calls] == ["list_tasks"]
        messages.append(assistant_calls(reply))  # result lost each time
    reply, _ = complete(messages)
    assert reply.tool_calls == []
    assert "couldn't look up your tasks" in reply.content
