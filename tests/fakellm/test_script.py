"""The script's pure helpers: intents, tool-result summaries and text chunks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fakellm.directives import parse_directives
from fakellm.script import intent_for, summarize_tool_result, text_chunks


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("add a task to Buy milk.", ("add_task", {"title": "Buy milk"})),
        ("Add task call the bank", ("add_task", {"title": "call the bank"})),
        ("remind me to water plants!", ("add_task", {"title": "water plants"})),
        ("show me my tasks", ("list_tasks", {"status": "all"})),
        ("List pending tasks", ("list_tasks", {"status": "pending"})),
        ("which tasks are done? list them", ("list_tasks", {"status": "completed"})),
        ("complete task 4", ("complete_task", {"task_id": 4})),
        ("Mark task #2 as done", ("complete_task", {"task_id": 2})),
        ("delete task 9", ("delete_task", {"task_id": 9})),
        ("rename task 1 to Pay rent", ("update_task", {"task_id": 1, "title": "Pay rent"})),
        ("how are you?", None),
    ],
)
def test_intent_for(text: str, expected: tuple[str, dict[str, Any]] | None) -> None:
    assert intent_for(text) == expected


def test_parse_directives() -> None:
    clean, d = parse_directives(
        'a [[latency=0.5]] b [[tool=x {"k": [[1]]}]] c [[stream=3,0.1]] [[not a directive]]'
    )
    assert clean == "a b c [[not a directive]]"
    assert d.latency == 0.5
    assert d.tool == ("x", {"k": [[1]]})
    assert d.stream == (3, 0.1)
    assert d.error is None and not d.loop and not d.garbage


def test_summaries() -> None:
    assert summarize_tool_result("[]", "list_tasks") == "Done. You have 0 task(s)."
    listed = json.dumps([{"title": "a"}, {"title": "b"}])
    assert summarize_tool_result(listed, "list_tasks") == "Done. You have 2 task(s): a, b."
    assert summarize_tool_result("Error: nope", "x") == "Sorry, that failed: Error: nope"


def test_text_chunks_are_at_least_three() -> None:
    assert text_chunks("a b c d") == ["a", " b", " c", " d"]
    assert "".join(text_chunks("You said:")) == "You said:"
    assert len(text_chunks("ok")) >= 3
