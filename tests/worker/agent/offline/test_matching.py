"""Changing a task named by title: looked up first, and a tie or a miss is a question."""

from __future__ import annotations

import pytest

from tests.worker.agent.offline.support import (
    TodoStore,
    run_turn,
    seeded,
)


@pytest.mark.parametrize(
    ("text", "tool", "task_id", "reply"),
    [
        ("Delete the meeting task", "delete_task", 3, 'Deleted task 3 "Team meeting".'),
        ("remove the task about groceries", "delete_task", 4, 'Deleted task 4 "Buy groceries".'),
        ('Remove the "Team meeting" task', "delete_task", 3, 'Deleted task 3 "Team meeting".'),
        (
            "complete the groceries task",
            "complete_task",
            4,
            'Marked task 4 "Buy groceries" as complete.',
        ),
        (
            "I finished the meetings",
            "complete_task",
            3,
            'Marked task 3 "Team meeting" as complete.',
        ),
        ("the milk one is done", "complete_task", 1, 'Marked task 1 "Buy milk" as complete.'),
    ],
)
def test_change_by_name_looks_the_task_up_first(
    text: str, tool: str, task_id: int, reply: str
) -> None:
    store = TodoStore("Buy milk", "Pay bills", "Team meeting", "Buy groceries")
    turn = run_turn(text, store)
    assert turn.calls == [("list_tasks", {"status": "all"}), (tool, {"task_id": task_id})]
    assert turn.reply == reply


def test_rename_by_name() -> None:
    store = TodoStore("Buy milk", "Buy groceries")
    turn = run_turn("rename the groceries task to Buy food", store)
    assert turn.calls[-1] == ("update_task", {"task_id": 2, "title": "Buy food"})
    assert store.titles() == ["Buy milk", "Buy food"]


@pytest.mark.parametrize(
    ("text", "query"),
    [("Delete the meeting task", "meeting"), ("complete the dentist task", "dentist")],
)
def test_no_task_matches_the_name(text: str, query: str) -> None:
    store = TodoStore("Buy milk", "Pay bills")
    turn = run_turn(text, store)
    assert turn.calls == [("list_tasks", {"status": "all"})]
    assert f'couldn\'t find a task matching "{query}"' in turn.reply
    assert store.titles() == ["Buy milk", "Pay bills"]
    assert not any(t["completed"] for t in store.tasks)


def test_a_partial_word_overlap_is_not_a_match() -> None:
    turn = run_turn("delete the team lunch task", seeded())
    assert [name for name, _ in turn.calls] == ["list_tasks"]
    assert 'matching "team lunch"' in turn.reply


def test_several_matches_ask_which_one() -> None:
    store = TodoStore("Buy milk", "Buy bread")
    turn = run_turn("delete the buy task", store)
    assert [name for name, _ in turn.calls] == ["list_tasks"]
    assert "1. Buy milk, 2. Buy bread" in turn.reply and "Which one" in turn.reply
    assert len(store.tasks) == 2


def test_completing_by_name_prefers_the_pending_task() -> None:
    store = TodoStore("Call mom", "Call mom", done=(1,))
    turn = run_turn("complete the call mom task", store)
    assert turn.calls[-1] == ("complete_task", {"task_id": 2})
