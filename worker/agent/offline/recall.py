"""What earlier turns leave for this one: the list the user last saw, and their last change.

"The first one" means what a person looking at the chat means: the first task of the most
recent list they were shown. A shown list is a turn whose only tool calls were `list_tasks`
(a lookup before a change is never shown), read with the same status filter as its reply, so
after "what's pending?" the first one is the first pending task. With no list shown yet,
ordinals count the user's open tasks in number order (completed ones when reopening), fetched
in this turn. A number ("task 3", "number 3", "#3") is always the task's own number, the one
every list shows next to its title.

"Undo that" reopens a task only when the most recent change was marking it done; "reopen it"
and "mark it as not done" mean the task completed most recently (and not reopened since).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from worker.agent.model import ChatMessage
from worker.agent.offline.conversation import Step, earlier_turns
from worker.agent.offline.results import read_result, tasks_from

_CHANGES = frozenset({"add_task", "complete_task", "delete_task", "update_task"})


@dataclass(frozen=True)
class Recall:
    """The tasks of the last list shown, the last completed task, and what the last change was."""

    shown: tuple[dict[str, Any], ...] | None = None
    last_completed: int | None = None
    last_change_completed: bool = False


def recall(messages: list[ChatMessage]) -> Recall:
    """Read the earlier turns of the conversation, oldest first; later turns win."""
    shown: tuple[dict[str, Any], ...] | None = None
    last_completed: int | None = None
    last_change_completed = False
    for steps in earlier_turns(messages):
        listed = _shown_list(steps)
        if listed is not None:
            shown = listed
        for step in steps:
            task_id = _changed_task(step)
            if task_id is None:
                continue
            completed = _completion(step)
            last_change_completed = completed is True
            if completed is True:
                last_completed = task_id
            elif completed is False and task_id == last_completed:
                last_completed = None
    return Recall(shown, last_completed, last_change_completed)


def visible(status: str, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tasks a list reply shows for `status` (filtered here in case the tool ignored it)."""
    if status == "all":
        return tasks
    return [t for t in tasks if bool(t.get("completed")) == (status == "completed")]


def _shown_list(steps: tuple[Step, ...]) -> tuple[dict[str, Any], ...] | None:
    """The list a list-only turn showed the user, or None for any other turn."""
    if not steps or any(s.name != "list_tasks" for s in steps):
        return None
    answered = [s for s in steps if s.result is not None]
    if not answered:
        return None
    outcome = read_result(answered[-1].result)
    if not outcome.ok:
        return None
    status = str(answered[-1].arguments.get("status") or "all")
    return tuple(visible(status, tasks_from(outcome.data)))


def _changed_task(step: Step) -> int | None:
    """The number of the task a successful change acted on; None for reads and failures."""
    if step.name not in _CHANGES or step.result is None:
        return None
    outcome = read_result(step.result)
    if not outcome.ok:
        return None
    data = outcome.data if isinstance(outcome.data, dict) else {}
    task_id = data.get("task_id", step.arguments.get("task_id"))
    return task_id if isinstance(task_id, int) and not isinstance(task_id, bool) else None


def _completion(step: Step) -> bool | None:
    """True if the change marked its task done, False if it reopened it, else None."""
    if step.name == "complete_task":
        return True
    if step.name == "update_task":
        completed = step.arguments.get("completed")
        return completed if isinstance(completed, bool) else None
    return None
