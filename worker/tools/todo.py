"""The built-in todo tools as an MCP server, with exactly-once effects per tool call.

The user comes from the request's `_meta` (set by the worker from the run), never from the
model's arguments. `_meta.call_key` names the ledger row of the call: the effect, the row's
completion and its `tool_call.completed` event commit together, so a replayed call returns the
recorded result instead of acting.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import Database
from shared.errors import NotFound
from shared.events import store as events
from shared.events.schemas import TOOL_CALL_COMPLETED, tool_call_data
from shared.runs import tool_calls
from shared.runs.status import ToolCallStatus
from shared.tasks import service
from shared.tasks.models import Task
from worker.tools.arguments import PlainArgumentsServer

Effect = Callable[[AsyncSession, str], Awaitable[Any]]
Title = Annotated[str, Field(min_length=1, max_length=500, description="What to do.")]
NewTitle = Annotated[str | None, Field(min_length=1, max_length=500, description="New title.")]
Description = Annotated[str | None, Field(max_length=10000, description="Details.")]
TaskId = Annotated[int, Field(description="The task's number, as list_tasks shows it.")]
StatusFilter = Annotated[
    Literal["all", "pending", "completed"], Field(description="Which tasks to list.")
]

INSTRUCTIONS = (
    "Manage the current user's todo list. Task ids are the user's own task numbers "
    "(1, 2, 3 …); a deleted task's number is never reused."
)


def _task_row(task: Task) -> dict[str, Any]:
    return {
        "id": task.number,
        "title": task.title,
        "description": task.description,
        "completed": task.completed,
    }


def _meta(ctx: Context) -> dict[str, Any]:
    meta = ctx.request_context.meta
    return dict(meta) if isinstance(meta, dict) else {}


def build_todo_server(database: Database) -> PlainArgumentsServer:
    """The todo MCP server bound to a database."""
    server = PlainArgumentsServer("parley-todo", instructions=INSTRUCTIONS)

    async def once(ctx: Context, effect: Effect) -> Any:
        meta = _meta(ctx)
        user_id = meta.get("user_id")
        if not isinstance(user_id, str) or not user_id:
            raise ToolError("no user in the request context")
        call_key = meta.get("call_key")
        async with database.transaction() as session:
            call = await tool_calls.lock_call(session, call_key) if call_key else None
            if call is not None and call.status == ToolCallStatus.COMPLETED:
                outcome, is_error = call.result, call.is_error
            else:
                try:
                    outcome, is_error = await effect(session, user_id), False
                except NotFound as exc:
                    outcome, is_error = str(exc), True
                if call is not None:
                    tool_calls.complete(call, outcome, is_error)
                    # Announced in the effect's own transaction: one commit per tool call.
                    completed = tool_call_data(tool_calls.public(call))
                    await events.append(session, call.run_id, [(TOOL_CALL_COMPLETED, completed)])
        if is_error:
            raise ToolError(str(outcome))
        return outcome

    @server.tool()
    async def add_task(
        ctx: Context, title: Title, description: Description = None
    ) -> dict[str, Any]:
        """Add a task to the user's todo list."""

        async def effect(session: AsyncSession, user_id: str) -> dict[str, Any]:
            task = await service.add(session, user_id, title, description)
            return {"task_id": task.number, "status": "created", "title": task.title}

        result: dict[str, Any] = await once(ctx, effect)
        return result

    @server.tool()
    async def list_tasks(ctx: Context, status: StatusFilter = "all") -> list[dict[str, Any]]:
        """List the user's tasks: all, pending (not done) or completed."""

        async def effect(session: AsyncSession, user_id: str) -> list[dict[str, Any]]:
            return [_task_row(t) for t in await service.list_tasks(session, user_id, status)]

        result: list[dict[str, Any]] = await once(ctx, effect)
        return result

    @server.tool()
    async def complete_task(ctx: Context, task_id: TaskId) -> dict[str, Any]:
        """Mark a task as completed."""

        async def effect(session: AsyncSession, user_id: str) -> dict[str, Any]:
            task = await service.update(session, user_id, task_id, completed=True)
            return {"task_id": task.number, "status": "completed", "title": task.title}

        result: dict[str, Any] = await once(ctx, effect)
        return result

    @server.tool()
    async def delete_task(ctx: Context, task_id: TaskId) -> dict[str, Any]:
        """Delete a task."""

        async def effect(session: AsyncSession, user_id: str) -> dict[str, Any]:
            task = await service.remove(session, user_id, task_id)
            return {"task_id": task.number, "status": "deleted", "title": task.title}

        result: dict[str, Any] = await once(ctx, effect)
        return result

    @server.tool()
    async def update_task(
        ctx: Context, task_id: TaskId, title: NewTitle = None, description: Description = None
    ) -> dict[str, Any]:
        """Change a task's title and/or description."""

        async def effect(session: AsyncSession, user_id: str) -> dict[str, Any]:
            task = await service.update(
                session, user_id, task_id, title=title, description=description
            )
            return {"task_id": task.number, "status": "updated", "title": task.title}

        result: dict[str, Any] = await once(ctx, effect)
        return result

    return server
