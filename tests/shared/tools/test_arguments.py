"""Arguments the model got wrong come back as one plain sentence, never pydantic's report."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

from mcp.client import Client
from mcp.types import RequestParamsMeta

from shared.tools.todo import build_todo_server
from tests.factories import create_database


def _call(tmp_path: Path, tool: str, arguments: dict[str, object]) -> tuple[str, bool]:
    async def call() -> tuple[str, bool]:
        database = await create_database(tmp_path)
        try:
            async with Client(build_todo_server(database)) as client:
                meta = cast(RequestParamsMeta, {"user_id": "u1"})
                result = await client.call_tool(tool, arguments, meta=meta)
        finally:
            await database.dispose()
        return "\n".join(getattr(p, "text", "") for p in result.content), result.is_error

    return asyncio.run(call())


def test_wrong_argument_types_read_as_a_sentence(tmp_path: Path) -> None:
    text, is_error = _call(tmp_path, "complete_task", {"task_id": "the milk one"})
    assert is_error
    assert text == (
        "Error: complete_task was called with invalid arguments: `task_id` must be an integer. "
        "Call it again with corrected arguments."
    )


def test_missing_and_bad_values_are_named_without_pydantic_text(tmp_path: Path) -> None:
    text, is_error = _call(tmp_path, "add_task", {})
    assert is_error and "`title` is required" in text
    text, is_error = _call(tmp_path, "list_tasks", {"status": "someday"})
    assert is_error and "`status` must be one of" in text
    for report in (text, _call(tmp_path, "add_task", {"title": ""})[0]):
        assert "pydantic" not in report and "validation error" not in report
        assert "\n" not in report and "input_value" not in report
