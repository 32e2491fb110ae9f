"""The built-in todo tools as an MCP server, with exactly-once effects per tool call.

Who a call acts for is never in the model's arguments: `identify` reads it from the request.
The worker's in-memory client puts the run's user in `_meta` (`caller_from_meta`); /mcp builds
its own server whose `identify` trusts only the verified bearer token (api/mcp_server.py), so
a remote client's `_meta` names no one. `_meta.call_key` names the ledger row of a worker's
call: the effect, the row's completion and its `tool_call.completed` event commit together, so
a replayed call returns the recorded result instead of acting.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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
from shared.tools.arguments import PlainArgumentsServer

Effect = Callable[[AsyncSession, str], Awaitable[Any]]
READ, WRITE = "tasks:read", "tasks:write"
Title = Annotated[str, Field(min_length=1, max_length=500, description="What to do.")]
NewTitle = Annotated[str | None, Field(min_length=1, max_length=500, description="New title.")]
Completed = Annotated[
    bool | None, Field(description="true marks the task done; false reopens it (not done).")
]
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


@dataclass(frozen=True)
class Caller:
    """Whom a call acts for, its ledger row (None: no ledger) and its scopes (None: every one)."""

    user_id: str
    call_key: str | None = None
    scopes: frozenset[str] | None = None


Identify = Callable[[Context], Caller]


def caller_from_meta(ctx: Context) -> Caller:
    """The worker's path: its in-memory client sends the run's user and ledger key in `_meta`."""
    meta = ctx.request_context.meta
    values: dict[str, Any] = dict(meta) if isinstance(meta, dict) else {}
    user_id, call_key = values.get("user_id"), values.get("call_key")
    if not isinstance(user_id, str) or not user_id:
        raise ToolError("no user in the request context")
    return Caller(user_id, call_key if isinstance(call_key, str) and call_key else None)


def build_todo_server(
    database: Database, identify: Identify = caller_from_meta
) -> PlainArgumentsServer:
    """The todo MCP server bound to a database; `identify` says whom each call acts for."""
    server = PlainArgumentsServer("parley-todo", instructions=INSTRUCTIONS)

    async def once(ctx: Context, scope: str, effect: Effect) -> Any:
        caller = identify(ctx)
        if caller.scopes is not None and scope not in caller.scopes:
            raise ToolError(f"this API key lacks the scope {scope}")
        async with database.transaction() as session:
            call = await tool_calls.lock_call(session, caller.call_key) if caller.call_key else None
            if call is not None and call.status == ToolCallStatus.COMPLETED:
                outcome, is_error = call.result, call.is_error
            else:
                try:
                    outcome, is_error = await effect(session, caller.user_id), False
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

        result: dict[str, Any] = await once(ctx, WRITE, effect)
        return result

    @server.tool()
    async def list_tasks(ctx: Context, status: StatusFilter = "all") -> list[dict[str, Any]]:
        """List the user's tasks: all, pending (not done) or completed."""

        async def effect(session: AsyncSession, user_id: str) -> list[dict[str, Any]]:
            return [_task_row(t) for t in await service.list_tasks(session, user_id, status)]

        result: list[dict[str, Any]] = await once(ctx, READ, effect)
        return result

    @server.tool()
    async def complete_task(ctx: Context, task_id: TaskId) -> dict[str, Any]:
        """Mark a task as completed."""

        async def effect(session: AsyncSession, user_id: str) -> dict[str, Any]:
            task = await service.update(session, user_id, task_id, completed=True)
            return {"task_id": task.number, "status": "completed", "title": task.title}

        result: dict[str, Any] = await once(ctx, WRITE, effect)
        return result

    @server.tool()
    async def delete_task(ctx: Context, task_id: TaskId) -> dict[str, Any]:
        """Delete a task."""

        async def effect(session: AsyncSession, user_id: str) -> dict[str, Any]:
            task = await service.remove(session, user_id, task_id)
            return {"task_id": task.number, "status": "deleted", "title": task.title}

        result: dict[str, Any] = await once(ctx, WRITE, effect)
        return result

    @server.tool()
    async def update_task(
        ctx: Context,
        task_id: TaskId,
        title: NewTitle = None,
        description: Description = None,
        completed: Completed = None,
    ) -> dict[str, Any]:
        """Change a task's title, description and/or done state (completed=false reopens it)."""

        async def effect(session: AsyncSession, user_id: str) -> dict[str, Any]:
            task = await service.update(
                session, user_id, task_id, title=title, description=description, completed=completed
            )
            return {
                "task_id": task.number,
                "status": "updated",
                "title": task.title,
                "completed": task.completed,
            }

        result: dict[str, Any] = await once(ctx, WRITE, effect)
        return result

    return server
