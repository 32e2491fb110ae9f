"""Planning: the next tool call an intent still needs, or the final reply once it needs none."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from worker.agent.offline.conversation import Step
from worker.agent.offline.intent import NOTHING_TO_UNDO, WHICH_TASK, Intent, Status
from worker.agent.offline.matching import find_task, pick
from worker.agent.offline.recall import Recall, visible
from worker.agent.offline.replies import reply_add, reply_change, reply_list
from worker.agent.offline.results import Outcome, read_result, tasks_from

# A read-only lookup whose result went missing on replay is asked for at most this many times.
MAX_LOOKUPS = 2

_TOOL_FOR: dict[str, str] = {
    "add": "add_task",
    "list": "list_tasks",
    "complete": "complete_task",
    "delete": "delete_task",
    "update": "update_task",
    "reopen": "update_task",
}


@dataclass(frozen=True)
class Call:
    """A tool call the plan wants next; its id is assigned from the turn when it is emitted."""

    name: str
    arguments: dict[str, Any]


def plan(
    intent: Intent, steps: tuple[Step, ...], offered: frozenset[str], memory: Recall | None = None
) -> Call | str:
    """The next tool call this intent still needs, or the final reply once it needs none."""
    if intent.action == "reply":
        return intent.text
    tool = _TOOL_FOR[intent.action]
    if tool not in offered:
        return f"Sorry, I can't do that right now: the {tool} tool isn't available."
    if intent.action == "add":
        return _plan_add(intent, steps)
    if intent.action == "list":
        return _plan_list(intent, steps)
    return _plan_change(intent, steps, offered, memory or Recall())


def _last(steps: tuple[Step, ...], name: str) -> Step | None:
    """The most recent call of `name` in this turn, if any."""
    return next((s for s in reversed(steps) if s.name == name), None)


def _plan_add(intent: Intent, steps: tuple[Step, ...]) -> Call | str:
    """Add once; never again in the same turn, even if the result went missing."""
    done = _last(steps, "add_task")
    if done is not None:
        return reply_add(intent, done)
    arguments: dict[str, Any] = {"title": intent.title}
    if intent.description:
        arguments["description"] = intent.description
    return Call("add_task", arguments)


def _plan_list(intent: Intent, steps: tuple[Step, ...]) -> Call | str:
    """List with the asked-for filter, then describe what came back."""
    fetched = _fetch(steps, intent.status)
    if isinstance(fetched, Call):
        return fetched
    if not fetched.ok:
        return f"Sorry, I couldn't fetch your tasks: {fetched.error}."
    return reply_list(intent.status, tasks_from(fetched.data))


def _plan_change(
    intent: Intent, steps: tuple[Step, ...], offered: frozenset[str], memory: Recall
) -> Call | str:
    """Complete, delete, update or reopen one task, looking it up first if nothing names it."""
    tool = _TOOL_FOR[intent.action]
    done = _last(steps, tool)
    if done is not None:
        return reply_change(intent, done)
    known = _known_target(intent, memory)
    if isinstance(known, str):
        return known
    if known is not None:
        return Call(tool, _change_arguments(intent, known))
    if "list_tasks" not in offered:
        return WHICH_TASK
    # Ordinals with no list shown count the open tasks (the done ones when reopening).
    status: Status = "all"
    if intent.ordinal:
        status = "completed" if intent.action == "reopen" else "pending"
    fetched = _fetch(steps, status)
    if isinstance(fetched, Call):
        return fetched
    if not fetched.ok:
        return f"Sorry, I couldn't look up your tasks: {fetched.error}."
    tasks = tasks_from(fetched.data)
    if intent.ordinal:
        found = pick(intent.ordinal, visible(status, tasks), f"your {status} list")
    else:
        found = find_task(intent, tasks)
    if isinstance(found, str):
        return found
    return Call(tool, _change_arguments(intent, found))


def _known_target(intent: Intent, memory: Recall) -> int | str | None:
    """The task named without a lookup in this turn (or a reply why not); None: look it up."""
    if intent.task_id is not None:
        return intent.task_id
    if intent.undo:
        if memory.last_change_completed and memory.last_completed is not None:
            return memory.last_completed
        return NOTHING_TO_UNDO
    if intent.recent:
        return memory.last_completed if memory.last_completed is not None else WHICH_TASK
    if intent.ordinal and memory.shown is not None:
        return pick(intent.ordinal, list(memory.shown), "the list I showed you")
    return None


def _fetch(steps: tuple[Step, ...], status: Status) -> Call | Outcome:
    """The latest list_tasks result of this turn, or the call to get one.

    Listing is read-only, so a lookup whose result went missing on replay is safe to repeat,
    but only `MAX_LOOKUPS` times in all so a turn can never loop.
    """
    lookups = [s for s in steps if s.name == "list_tasks"]
    answered = [s for s in lookups if s.result is not None]
    if answered:
        return read_result(answered[-1].result)
    if len(lookups) < MAX_LOOKUPS:
        return Call("list_tasks", {"status": status})
    return Outcome(ok=False, error="no result came back from list_tasks")


def _change_arguments(intent: Intent, task_id: int) -> dict[str, Any]:
    """Arguments for complete/delete/update_task; update carries only the fields being changed."""
    arguments: dict[str, Any] = {"task_id": task_id}
    if intent.action == "reopen":
        arguments["completed"] = False
    if intent.action == "update":
        if intent.title:
            arguments["title"] = intent.title
        if intent.description:
            arguments["description"] = intent.description
    return arguments
