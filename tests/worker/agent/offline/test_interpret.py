"""Requests read into intents: every phrasing of adding and listing, small talk, vague targets."""

from __future__ import annotations

import pytest

from tests.worker.agent.offline.support import (
    ALL,
    COMPLETED,
    PENDING,
    TodoStore,
    run_turn,
    seeded,
)

# --- adding --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("Add a task to buy groceries", "Buy groceries"),
        ("add buy milk to my list", "Buy milk"),
        ("Create a task called 'Finish report'", "Finish report"),
        ('create a new task called "Finish report"', "Finish report"),
        ("New task: call the plumber", "Call the plumber"),
        ("Remind me to water the plants.", "Water the plants"),
        ("Can you please add a task to buy eggs?", "Buy eggs"),
        ("Hi, could you add walk the dog to my to-do list please", "Walk the dog"),
        ("I need to remember to pay bills", "Pay bills"),
        ("I have to pay bills", "Pay bills"),
        ("I've got to renew my passport", "Renew my passport"),
        ("Don't let me forget to call mom!", "Call mom"),
        ("don't forget to book the dentist", "Book the dentist"),
        ("ADD A TASK TO BUY GROCERIES", "Buy groceries"),
        ("Add a task to complete the report", "Complete the report"),
        ("remind me to finish task 3", "Finish task 3"),
    ],
)
def test_add_phrasings(text: str, title: str) -> None:
    store = seeded()
    turn = run_turn(text, store)
    assert turn.calls == [("add_task", {"title": title})]
    assert turn.reply == f'I\'ve added "{title}" to your tasks (task 4).'
    assert store.titles()[-1] == title


def test_add_with_description() -> None:
    store = TodoStore()
    turn = run_turn("Add a task to buy groceries with description milk and eggs", store)
    assert turn.calls == [("add_task", {"title": "Buy groceries", "description": "milk and eggs"})]
    assert store.tasks[0]["description"] == "milk and eggs"


def test_add_without_a_title_asks_for_one() -> None:
    turn = run_turn("add a task", TodoStore())
    assert turn.calls == []
    assert "What should the task say" in turn.reply


@pytest.mark.parametrize(
    ("text", "status", "reply"),
    [
        ("Show me all my tasks", "all", ALL),
        ("list my tasks", "all", ALL),
        ("What are my tasks?", "all", ALL),
        ("what's on my list", "all", ALL),
        ("show me my to-do list please", "all", ALL),
        ("How many tasks do I have?", "all", ALL),
        ("my tasks", "all", ALL),
        ("What's pending?", "pending", PENDING),
        ("what do I still have to do", "pending", PENDING),
        ("Show incomplete tasks", "pending", PENDING),
        ("show open tasks", "pending", PENDING),
        ("What's left?", "pending", PENDING),
        ("What have I completed?", "completed", COMPLETED),
        ("show done tasks", "completed", COMPLETED),
        ("Show finished tasks.", "completed", COMPLETED),
        ("what is done?", "completed", COMPLETED),
    ],
)
def test_list_phrasings(text: str, status: str, reply: str) -> None:
    turn = run_turn(text, seeded())
    assert turn.calls == [("list_tasks", {"status": status})]
    assert turn.reply == reply


@pytest.mark.parametrize(
    ("text", "reply"),
    [
        ("What's pending?", "You have no pending tasks."),
        ("show completed tasks", "You have no completed tasks yet."),
        ("list my tasks", 'You have no tasks yet. Say "add a task to ..." to create one.'),
    ],
)
def test_list_empty(text: str, reply: str) -> None:
    store = TodoStore("Pay bills", done=(1,)) if "pending" in text.lower() else TodoStore()
    assert run_turn(text, store).reply == reply


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("delete it", "Which task do you mean"),
        ("delete all tasks", "one task at a time"),
    ],
)
def test_requests_that_need_a_clearer_target(text: str, expected: str) -> None:
    store = seeded()
    turn = run_turn(text, store)
    assert turn.calls == []
    assert expected in turn.reply
    assert len(store.tasks) == 3


# --- small talk ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["hello", "What can you do?", "tell me a joke", "", "help"])
def test_small_talk_explains_what_it_can_do(text: str) -> None:
    turn = run_turn(text, seeded())
    assert turn.calls == []
    assert "offline" in turn.reply and "Add a task to buy groceries" in turn.reply


def test_greeting_and_thanks() -> None:
    assert run_turn("Hi!", seeded()).reply.startswith("Hi! ")
    assert run_turn("thanks!", seeded()).reply == "You're welcome! Anything else for your list?"
