"""The API validates approval against the todo tools by name: the list must match the server."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mcp import Client

from shared.agents.schemas import TODO_TOOLS
from shared.db import Database
from shared.tools.todo import build_todo_server


def test_todo_tool_names_match_the_todo_server(tmp_path: Path) -> None:
    async def names() -> set[str]:
        database = Database(f"sqlite:///{tmp_path / 'unused.db'}")
        try:
            async with Client(build_todo_server(database)) as client:
                return {tool.name for tool in (await client.list_tools()).tools}
        finally:
            await database.dispose()

    assert asyncio.run(names()) == set(TODO_TOOLS)
