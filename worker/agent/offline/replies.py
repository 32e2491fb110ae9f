"""The sentences that confirm what was done, or say plainly why it was not."""

from __future__ import annotations

from typing import Any

from worker.agent.offline.conversation import Step
from worker.agent.offline.intent import Intent, Status
from worker.agent.offline.recall import visible
from worker.agent.offline.results import read_result

# What we tried to do, for "Sorry, I couldn't <verb> task 3" style replies.
_VERB_FOR: dict[str, str] = {
    "complete": "mark as complete",
    "delete": "delete",
    "update": "update",
    "reopen": "reopen",
}


def reply_add(intent: Intent, step: Step) -> str:
    """Confirm the new task with its number, or say why it could not be added."""
    title = str(step.arguments.get("title") or intent.title)
    if step.result is None:
        return f'I asked to add "{title}", but no confirmation came back; check your list.'
    outcome = read_result(step.result)
    if not outcome.ok:
        return f'Sorry, I couldn\'t add "{title}": {outcome.error}.'
    data = outcome.data if isinstance(outcome.data, dict) else {}
    title = str(data.get("title") or title)
    task_id = data.get("task_id")
    where = f" (task {task_id})" if task_id is not None else ""
    return f'I\'ve added "{title}" to your tasks{where}.'


def reply_list(status: Status, tasks: list[dict[str, Any]]) -> str:
    """Describe the tasks in one sentence, filtering locally in case the tool ignored status."""
    tasks = visible(status, tasks)
    if not tasks:
        return {
            "all": 'You have no tasks yet. Say "add a task to ..." to create one.',
            "pending": "You have no pending tasks.",
            "completed": "You have no completed tasks yet.",
        }[status]
    label = "" if status == "all" else f"{status} "
    noun = "task" if len(tasks) == 1 else "tasks"
    items = ", ".join(_describe(t, with_state=status == "all") for t in tasks)
    return f"You have {len(tasks)} {label}{noun}: {items}."


def _describe(task: dict[str, Any], with_state: bool) -> str:
    """ "3. Buy milk (pending)": the number is the task id, which later requests refer to."""
    text = f"{task['id']}. {task.get('title', '')}"
    if with_state:
        text += " (done)" if task.get("completed") else " (pending)"
    return text


def reply_change(intent: Intent, step: Step) -> str:
    """Confirm a complete/delete/update, or report plainly why it failed."""
    task_id = step.arguments.get("task_id", intent.task_id)
    verb = _VERB_FOR[intent.action]
    if step.result is None:
        return f"I asked to {verb} task {task_id}, but no confirmation came back; check your list."
    outcome = read_result(step.result)
    if not outcome.ok:
        if "not found" in outcome.error.lower():
            return f"I couldn't find task {task_id}."
        return f"Sorry, I couldn't {verb} task {task_id}: {outcome.error}."
    data = outcome.data if isinstance(outcome.data, dict) else {}
    task_id = data.get("task_id", task_id)
    return _confirmation(intent, step, task_id, str(data.get("title") or ""))


def _confirmation(intent: Intent, step: Step, task_id: Any, title: str) -> str:
    """The success sentence for a change, quoting the task's title when we know it."""
    named = f' "{title}"' if title else ""
    if intent.action == "complete":
        return f"Marked task {task_id}{named} as complete."
    if intent.action == "delete":
        return f"Deleted task {task_id}{named}."
    if intent.action == "reopen":
        return f"Reopened task {task_id}{named}: it's marked as not done."
    new_title = str(step.arguments.get("title") or "")
    description = str(step.arguments.get("description") or "")
    if new_title and description:
        return f'Updated task {task_id} to "{new_title}" with description "{description}".'
    if description:
        return f'Updated the description of task {task_id}{named} to "{description}".'
    return f'Updated task {task_id} to "{new_title or title}".'
