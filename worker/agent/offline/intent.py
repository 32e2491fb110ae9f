"""What the user asked for (`Intent`) and the fixed sentences the rules answer with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Action = Literal["add", "list", "complete", "delete", "update", "reply"]
Status = Literal["all", "pending", "completed"]

HELP = (
    "I'm Parley's offline assistant: I follow simple rules rather than an AI model, so I "
    'understand plain todo requests. Try: "Add a task to buy groceries", "Show my tasks", '
    '"What\'s pending?", "Mark task 3 as complete", "Delete the meeting task", or '
    '"Rename task 1 to Call mom".'
)
WHICH_TASK = 'Which task do you mean? Tell me its number (like "task 3") or part of its title.'
NEED_TITLE = 'What should the task say? For example: "Add a task to buy groceries".'
NO_REOPEN = "Sorry, I can't reopen tasks. I can add, list, complete, rename and delete them."
ONE_AT_A_TIME = 'I can only delete one task at a time. Tell me which one, like "delete task 3".'


@dataclass(frozen=True)
class Intent:
    """What the user asked for, reduced to the fields the plan needs.

    A task is referred to either by `task_id` or, failing a number, by `query` (words of its
    title). For ``update``, a non-empty `title` and/or `description` are the new values. For
    ``reply``, `text` is the finished answer and no tool is involved.
    """

    action: Action
    task_id: int | None = None
    query: str = ""
    title: str = ""
    description: str = ""
    status: Status = "all"
    text: str = ""
