"""Referring to tasks the way people do: "the first one", "I bought the bread", "undo that"."""

from __future__ import annotations

import pytest

from tests.worker.agent.offline.support import Message, TodoStore, run_turn, seeded
from worker.agent.offline.intent import NOTHING_TO_UNDO, WHICH_TASK


def after(store: TodoStore, *texts: str) -> list[Message]:
    """The conversation after these turns, to continue it."""
    messages: list[Message] = []
    for text in texts:
        messages = run_turn(text, store, history=messages).messages
    return messages


# --- ordinals: the list the user saw ---------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "I finished the first one",
        "the first one is done",
        "mark the 1st one as done",
        "complete the first task",
        "tick off the top one",
        "I'm done with the first one on the list",
    ],
)
def test_an_ordinal_counts_the_list_just_shown(text: str) -> None:
    store = seeded()
    history = after(store, "show my tasks")
    turn = run_turn(text, store, history=history)
    assert turn.calls == [("complete_task", {"task_id": 1})]
    assert turn.reply == 'Marked task 1 "Buy milk" as complete.'


@pytest.mark.parametrize(
    ("text", "call"),
    [
        ("delete the last one", ("delete_task", {"task_id": 3})),
        ("remove the second to last one", ("delete_task", {"task_id": 2})),
        ("the 2nd one is done", ("complete_task", {"task_id": 2})),
        ("rename the third one to Standup", ("update_task", {"task_id": 3, "title": "Standup"})),
    ],
)
def test_other_places_and_actions(text: str, call: tuple[str, dict[str, object]]) -> None:
    store = seeded()
    turn = run_turn(text, store, history=after(store, "list my tasks"))
    assert turn.calls == [call]


def test_a_filtered_list_is_counted_as_shown() -> None:
    """After "what's pending?" (1. Buy milk, 3. Team meeting) the second one is task 3."""
    store = seeded()
    turn = run_turn("the second one is done", store, history=after(store, "What's pending?"))
    assert turn.calls == [("complete_task", {"task_id": 3})]


def test_ordinals_count_places_and_numbers_stay_numbers() -> None:
    store = TodoStore("Gone", "Walk dog", "Buy stamps")
    store.tasks.pop(0)
    history = after(store, "show my tasks")
    assert run_turn("complete the first one", store, history=history).calls == [
        ("complete_task", {"task_id": 2})
    ]
    assert run_turn("complete number 3", store, history=history).calls == [
        ("complete_task", {"task_id": 3})
    ]


def test_the_latest_list_wins_and_a_lookup_is_not_a_shown_list() -> None:
    store = seeded()
    history = after(store, "show my tasks", "What's pending?", "complete the meeting task")
    # The last list shown is the pending one (1, 3), not the lookup behind "the meeting task".
    turn = run_turn("delete the first one", store, history=history)
    assert turn.calls == [("delete_task", {"task_id": 1})]


def test_with_no_list_shown_ordinals_count_the_open_tasks() -> None:
    store = seeded()
    turn = run_turn("I finished the second one", store)
    assert turn.calls == [("list_tasks", {"status": "pending"}), ("complete_task", {"task_id": 3})]


def test_an_ordinal_past_the_end_is_a_question_not_a_change() -> None:
    store = seeded()
    turn = run_turn("delete the fifth one", store, history=after(store, "show my tasks"))
    assert turn.calls == []
    assert turn.reply.startswith("There is no fifth task: the list I showed you has 3 tasks.")
    empty = TodoStore("Done already", done=(1,))
    turn = run_turn("complete the first one", empty)
    assert turn.reply == "There is no first task: your pending list is empty."


def test_a_title_that_starts_like_an_ordinal_is_a_title() -> None:
    store = TodoStore("Buy milk", "First aid kit")
    turn = run_turn("complete the first aid kit", store, history=after(store, "show my tasks"))
    assert turn.calls[-1] == ("complete_task", {"task_id": 2})


# --- past tense: a chore reported done -------------------------------------------------------


def chores() -> TodoStore:
    return TodoStore(
        "Buy bread", "Call mom", "Pay the electricity bill", "Clean the kitchen", "Send invoice"
    )


@pytest.mark.parametrize(
    ("text", "task_id"),
    [
        ("I bought the bread", 1),
        ("bought bread", 1),
        ("I've just bought the bread!", 1),
        ("I called mom yesterday", 2),
        ("I phoned mom", 2),
        ("We paid the electricity bill", 3),
        ("I paid the bill", 3),
        ("I cleaned the kitchen this morning", 4),
        ("sent the invoice already", 5),
    ],
)
def test_past_tense_completes_the_matching_task(text: str, task_id: int) -> None:
    store = chores()
    turn = run_turn(text, store)
    lookup = ("list_tasks", {"status": "all"})
    assert turn.calls == [lookup, ("complete_task", {"task_id": task_id})]
    assert turn.reply.startswith(f"Marked task {task_id} ")
    assert store.get(task_id)["completed"] is True


def test_the_verb_tells_similar_titles_apart() -> None:
    store = TodoStore("Bake bread", "Buy bread")
    assert run_turn("I bought the bread", store).calls[-1] == ("complete_task", {"task_id": 2})
    assert run_turn("I baked bread", store).calls[-1] == ("complete_task", {"task_id": 1})


def test_the_verb_joins_the_object_when_the_object_alone_is_too_vague() -> None:
    store = TodoStore("Buy milk", "Pay bills")
    turn = run_turn("I paid the electricity bill", store)
    assert turn.calls[-1] == ("complete_task", {"task_id": 2})


def test_past_tense_without_a_matching_task_changes_nothing() -> None:
    store = chores()
    turn = run_turn("I bought a new phone", store)
    assert turn.calls == [("list_tasks", {"status": "all"})]
    assert "couldn't find a task matching" in turn.reply
    assert not any(t["completed"] for t in store.tasks)


@pytest.mark.parametrize("text", ["I've got to call the bank", "I got to call the bank"])
def test_an_obligation_is_not_a_past_tense_report(text: str) -> None:
    assert run_turn(text, chores()).calls == [("add_task", {"title": "Call the bank"})]


# --- undo and reopen -------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["undo that", "Oops, undo that!", "undo", "revert that"])
def test_undo_reopens_the_task_just_completed(text: str) -> None:
    store = seeded()
    history = after(store, "show my tasks", "I finished the first one")
    assert store.get(1)["completed"] is True
    turn = run_turn(text, store, history=history)
    assert turn.calls == [("update_task", {"task_id": 1, "completed": False})]
    assert turn.reply == 'Reopened task 1 "Buy milk": it\'s marked as not done.'
    assert store.get(1)["completed"] is False


def test_undo_only_undoes_a_completion_right_after_it() -> None:
    store = seeded()
    assert run_turn("undo that", store).reply == NOTHING_TO_UNDO
    history = after(store, "complete task 1", "add a task to call mom")
    turn = run_turn("undo that", store, history=history)
    assert turn.calls == [] and turn.reply == NOTHING_TO_UNDO
    history = after(store, "complete task 3", "undo that")
    assert store.get(3)["completed"] is False
    assert run_turn("undo", store, history=history).reply == NOTHING_TO_UNDO


@pytest.mark.parametrize(
    "text",
    [
        "reopen task 2",
        "mark task 2 as not done",
        "set task 2 back to pending",
        "uncheck task 2",
        "mark task #2 as incomplete",
        "Please mark the bills task as not done",
    ],
)
def test_reopen_by_number_or_title(text: str) -> None:
    store = seeded()
    turn = run_turn(text, store)
    assert turn.calls[-1] == ("update_task", {"task_id": 2, "completed": False})
    assert turn.reply == 'Reopened task 2 "Pay bills": it\'s marked as not done.'
    assert store.get(2)["completed"] is False


@pytest.mark.parametrize("text", ["mark it as not done", "reopen it", "reopen that one"])
def test_it_means_the_task_completed_last(text: str) -> None:
    store = seeded()
    history = after(store, "I finished task 3", "what's left?")
    turn = run_turn(text, store, history=history)
    assert turn.calls == [("update_task", {"task_id": 3, "completed": False})]
    assert run_turn(text, seeded()).reply == WHICH_TASK


def test_reopen_the_first_one_counts_the_completed_tasks_when_none_were_shown() -> None:
    store = TodoStore("A", "B", "C", done=(2, 3))
    turn = run_turn("reopen the last one", store)
    assert turn.calls == [
        ("list_tasks", {"status": "completed"}),
        ("update_task", {"task_id": 3, "completed": False}),
    ]
