"""OfflineModel driven through whole turns, the way the agent loop drives it.

A tiny in-memory todo store answers the tool calls like the real tools do (JSON results, or
"Error executing tool X: task N not found"), and `run_turn` loops model call -> tool results ->
model call until the model answers with text.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import Any

import pytest

from worker.agent.model import ChatModel, ModelReply
from worker.agent.offline import OfflineModel

Message = dict[str, Any]


def _spec(name: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": name.replace("_", " "),
            "parameters": {"type": "object", "properties": properties, "required": required},
        },
    }


_ID = {"task_id": {"type": "integer"}}
TOOLS: list[dict[str, Any]] = [
    _spec(
        "add_task",
        {"title": {"type": "string"}, "description": {"type": "string"}},
        ["title"],
    ),
    _spec(
        "list_tasks",
        {"status": {"type": "string", "enum": ["all", "pending", "completed"]}},
        [],
    ),
    _spec("complete_task", _ID, ["task_id"]),
    _spec("delete_task", _ID, ["task_id"]),
    _spec(
        "update_task",
        {**_ID, "title": {"type": "string"}, "description": {"type": "string"}},
        ["task_id"],
    ),
]


def tools_without(*names: str) -> list[dict[str, Any]]:
    return [t for t in TOOLS if t["function"]["name"] not in names]


class TodoStore:
    """Behaves like the real todo tools, over a list of dicts."""

    def __init__(self, *titles: str, done: tuple[int, ...] = (), fail_with: str = "") -> None:
        self.tasks: list[dict[str, Any]] = []
        self.fail_with = fail_with
        for title in titles:
            self._add(title, "")
        for task in self.tasks:
            task["completed"] = task["id"] in done

    def titles(self) -> list[str]:
        return [t["title"] for t in self.tasks]

    def get(self, task_id: int) -> dict[str, Any]:
        return next(t for t in self.tasks if t["id"] == task_id)

    def execute(self, name: str, args: dict[str, Any]) -> str:
        if self.fail_with:
            return f"Error executing tool {name}: {self.fail_with}"
        if name == "add_task":
            new = self._add(args["title"], args.get("description", ""))
            return json.dumps({"task_id": new["id"], "status": "created", "title": new["title"]})
        if name == "list_tasks":
            status = args.get("status", "all")
            shown = [
                t
                for t in self.tasks
                if status == "all" or t["completed"] == (status == "completed")
            ]
            return json.dumps(shown)
        task: dict[str, Any] | None = next(
            (t for t in self.tasks if t["id"] == args["task_id"]), None
        )
        if task is None:
            return f"Error executing tool {name}: task {args['task_id']} not found"
        if name == "complete_task":
            task["completed"] = True
            status = "completed"
        elif name == "delete_task":
            self.tasks.remove(task)
            status = "deleted"
        else:
            task.update({k: v for k, v in args.items() if k in ("title", "description")})
            status = "updated"
        return json.dumps({"task_id": task["id"], "status": status, "title": task["title"]})

    def _add(self, title: str, description: str) -> dict[str, Any]:
        next_id = max((t["id"] for t in self.tasks), default=0) + 1
        task = {"id": next_id, "title": title, "description": description, "completed": False}
        self.tasks.append(task)
        return task


@dataclass
class Turn:
    reply: str
    calls: list[tuple[str, dict[str, Any]]]
    messages: list[Message]
    deltas: list[str]


def complete(
    messages: list[Message], tools: list[dict[str, Any]] | None = None
) -> tuple[ModelReply, list[str]]:
    """One model call; returns the reply and the streamed deltas."""
    deltas: list[str] = []

    async def on_delta(delta: str) -> None:
        deltas.append(delta)

    model = OfflineModel()
    reply = asyncio.run(model.complete(messages, TOOLS if tools is None else tools, on_delta))
    return reply, deltas


def assistant_calls(reply: ModelReply) -> Message:
    """The assistant message the agent loop records for a reply's tool calls."""
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in reply.tool_calls
        ],
    }


def run_turn(
    text: str,
    store: TodoStore,
    history: list[Message] | None = None,
    tools: list[dict[str, Any]] | None = None,
) -> Turn:
    """Simulate the agent loop for one user message until the model answers with text."""
    tools = TOOLS if tools is None else tools
    offered = {t["function"]["name"] for t in tools}
    messages = [*(history or []), {"role": "user", "content": text}]
    calls: list[tuple[str, dict[str, Any]]] = []
    for _ in range(8):
        reply, deltas = complete(messages, tools)
        assert reply.usage.total_tokens == 0
        if not reply.tool_calls:
            assert "".join(deltas) == reply.content
            messages.append({"role": "assistant", "content": reply.content})
            return Turn(reply.content, calls, messages, deltas)
        assert deltas == [] and reply.content == ""
        messages.append(assistant_calls(reply))
        for call in reply.tool_calls:
            assert call.name in offered, f"called {call.name}, which was not offered"
            assert re.fullmatch(r"call_[0-9a-f]{12}", call.id)
            args = json.loads(call.arguments)
            calls.append((call.name, args))
            content = store.execute(call.name, args)
            messages.append({"role": "tool", "tool_call_id": call.id, "content": content})
    pytest.fail(f"no text reply to {text!r} after 8 model calls: {calls}")


def seeded() -> TodoStore:
    return TodoStore("Buy milk", "Pay bills", "Team meeting", done=(2,))


# --- the model's identity ------------------------------------------------------------------


def test_model_identity_and_protocol() -> None:
    model: ChatModel = OfflineModel()
    assert model.name == "offline-rules"
    assert model.offline is True


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


# --- listing -------------------------------------------------------------------------------

ALL = "You have 3 tasks: 1. Buy milk (pending), 2. Pay bills (done), 3. Team meeting (pending)."
PENDING = "You have 2 pending tasks: 1. Buy milk, 3. Team meeting."
COMPLETED = "You have 1 completed task: 2. Pay bills."


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


# --- completing, deleting, updating by name --------------------------------------------------


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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("delete it", "Which task do you mean"),
        ("delete all tasks", "one task at a time"),
        ("mark task 1 as not done", "can't reopen"),
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


# --- streaming -----------------------------------------------------------------------------


def test_reply_is_streamed_in_word_sized_chunks() -> None:
    turn = run_turn("Show me all my tasks", seeded())
    assert len(turn.deltas) > 3
    assert "".join(turn.deltas) == turn.reply
    assert all(len(d.split()) == 1 for d in turn.deltas)


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
