"""What the user asked for (`Intent`) and the fixed sentences the rules answer with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Action = Literal["add", "list", "complete", "delete", "update", "reopen", "reply"]
Status = Literal["all", "pending", "completed"]

HELP = (
    "I'm Parley's offline assistant: I follow simple rules rather than an AI model, so I "
    'understand plain todo requests. Try: "Add a task to buy groceries", "Show my tasks", '
    '"What\'s pending?", "Mark task 3 as complete", "I bought the milk", "Delete the first '
    'one", "Rename task 1 to Call mom" or "Undo that".'
)
WHICH_TASK = 'Which task do you mean? Tell me its number (like "task 3") or part of its title.'
NEED_TITLE = 'What should the task say? For example: "Add a task to buy groceries".'
NOTHING_TO_UNDO = (
    "I can only undo marking a task as done, right after it happened. "
    'To reopen a task, say "reopen task 3".'
)
ONE_AT_A_TIME = 'I can only delete one task at a time. Tell me which one, like "delete task 3".'


@dataclass(frozen=True)
class Intent:
    """What the user asked for, reduced to the fields the plan needs.

    A task is referred to by `task_id` (its number), by `ordinal` (its place in the list the
    user saw: 1 first, -1 last), by `recent` ("it": the task completed last), by `undo` (the
    task of the last change, if that was completing it) or by `query` (words of its title; `verb`
    is the base form of a past-tense verb, "bought" -> "buy", to tell similar titles apart).
    For ``update``, a non-empty `title` and/or `description` are the new values. For ``reply``,
    `text` is the finished answer and no tool is involved.
    """

    action: Action
    task_id: int | None = None
    query: str = ""
    title: str = ""
    description: str = ""
    status: Status = "all"
    text: str = ""
    ordinal: int = 0
    recent: bool = False
    undo: bool = False
    verb: str = ""
