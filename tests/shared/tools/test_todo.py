"""The todo MCP tools speak the user's own task numbers, on a real database of each tier."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from mcp import Client
from mcp.types import RequestParamsMeta
from sqlalchemy import select

from shared.db import Database
from shared.models import Base
from shared.runs.models import ToolCall
from shared.tasks import service
from shared.tasks.models import TaskCounter
from shared.tools.todo import Caller, Identify, build_todo_server, caller_from_meta
from tests.factories import create_run, run_in_own_loop
from tests.stack import create_postgres_database, drop_postgres_database
from worker.agent.messages import tool_result_value

Scenario = Callable[[Database, Client], Awaitable[None]]


@pytest.fixture
def database_url(tier: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of the tier: a SQLite file or a fresh PostgreSQL database."""
    if tier == "embedded":
        yield f"sqlite:///{tmp_path / 'todo.db'}"
        return
    url = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)


def scenario(database_url: str, body: Scenario, identify: Identify = caller_from_meta) -> None:
    """Run `body` with the schema built and an MCP client of the todo server, in its own loop."""

    async def main() -> None:
        database = Database(database_url)
        try:
            async with database.engine.begin() as conn:
                await conn.run_sync(Base.metadata.create_all)
            async with Client(build_todo_server(database, identify)) as client:
                await body(database, client)
        finally:
            await database.dispose()

    run_in_own_loop(main())


async def call(
    client: Client, user: str, tool: str, call_key: str | None = None, **arguments: Any
) -> tuple[Any, bool]:
    """A tool call as the worker makes it: the user (and ledger key) in `_meta`."""
    meta: dict[str, Any] = {"user_id": user}
    if call_key is not None:
        meta["call_key"] = call_key
    outcome = await client.call_tool(tool, arguments, meta=cast(RequestParamsMeta, meta))
    return tool_result_value(outcome)


async def ok(client: Client, user: str, tool: str, **arguments: Any) -> Any:
    result, is_error = await call(client, user, tool, **arguments)
    assert not is_error, result
    return result


def test_each_user_has_their_own_task_numbers(database_url: str) -> None:
    async def body(_database: Database, client: Client) -> None:
        added = [await ok(client, "ann", "add_task", title=f"ann {i}") for i in range(3)]
        assert [a["task_id"] for a in added] == [1, 2, 3]
        assert added[0] == {"task_id": 1, "status": "created", "title": "ann 0"}
        assert (await ok(client, "bob", "add_task", title="bob 0"))["task_id"] == 1

        done = await ok(client, "bob", "complete_task", task_id=1)
        assert done == {"task_id": 1, "status": "completed", "title": "bob 0"}
        listed = await ok(client, "ann", "list_tasks", status="all")
        assert [(t["id"], t["title"], t["completed"]) for t in listed] == [
            (1, "ann 0", False),
            (2, "ann 1", False),
            (3, "ann 2", False),
        ]
        # Bob has no task 3: Ann's is out of his reach, and he is told so.
        for tool in ("complete_task", "delete_task", "update_task"):
            result, is_error = await call(client, "bob", tool, task_id=3)
            assert is_error and "task 3 not found" in result, (tool, result)
        renamed = await ok(client, "ann", "update_task", task_id=2, title="ann renamed")
        assert renamed == {
            "task_id": 2,
            "status": "updated",
            "title": "ann renamed",
            "completed": False,
        }

    scenario(database_url, body)


def test_a_deleted_number_is_never_given_again(database_url: str) -> None:
    async def body(_database: Database, client: Client) -> None:
        for i in range(2):
            await ok(client, "ann", "add_task", title=f"t{i}")
        deleted = await ok(client, "ann", "delete_task", task_id=2)
        assert deleted == {"task_id": 2, "status": "deleted", "title": "t1"}
        assert (await ok(client, "ann", "add_task", title="next"))["task_id"] == 3
        result, is_error = await call(client, "ann", "complete_task", task_id=2)
        assert is_error and "task 2 not found" in result
        listed = await ok(client, "ann", "list_tasks", status="pending")
        assert [t["id"] for t in listed] == [1, 3]

    scenario(database_url, body)


def test_parallel_adds_get_distinct_numbers(database_url: str) -> None:
    """Concurrent tool calls, each in its own MCP session and database transaction."""

    async def body(database: Database, _client: Client) -> None:
        server = build_todo_server(database)

        async def session_adding(index: int) -> list[int]:
            async with Client(server) as own:
                return [
                    (await ok(own, "ann", "add_task", title=f"s{index} t{i}"))["task_id"]
                    for i in range(3)
                ]

        batches = await asyncio.gather(*(session_adding(i) for i in range(6)))
        assert sorted(n for batch in batches for n in batch) == list(range(1, 19))

    scenario(database_url, body)


def test_a_replayed_add_returns_its_number_without_taking_another(database_url: str) -> None:
    """The ledger makes a replayed call return the recorded number; no number is spent."""

    async def body(database: Database, client: Client) -> None:
        run_id = await create_run(database, user_id="ann")
        async with database.transaction() as session:
            session.add(
                ToolCall(
                    run_id=run_id,
                    user_id="ann",
                    step=0,
                    call_index=0,
                    model_call_id="c0",
                    tool_name="add_task",
                    arguments={"title": "once"},
                )
            )
        key = f"{run_id}:0:0"
        first = await call(client, "ann", "add_task", call_key=key, title="once")
        again = await call(client, "ann", "add_task", call_key=key, title="once")
        assert first == again == ({"task_id": 1, "status": "created", "title": "once"}, False)
        async with database.transaction() as session:
            counter = await session.get(TaskCounter, "ann")
            assert counter is not None and counter.last_number == 1
            stored = (await session.execute(select(ToolCall.result))).scalar_one()
            assert stored == {"task_id": 1, "status": "created", "title": "once"}
        assert (await ok(client, "ann", "add_task", title="next"))["task_id"] == 2

    scenario(database_url, body)


def test_update_task_reopens_a_task_and_a_replay_does_not_act_twice(database_url: str) -> None:
    """`completed=false` reopens; the ledger still answers a replayed call with its record."""

    async def body(database: Database, client: Client) -> None:
        await ok(client, "ann", "add_task", title="bread")
        await ok(client, "ann", "complete_task", task_id=1)
        run_id = await create_run(database, user_id="ann")
        async with database.transaction() as session:
            session.add(
                ToolCall(
                    run_id=run_id,
                    user_id="ann",
                    step=0,
                    call_index=0,
                    model_call_id="c0",
                    tool_name="update_task",
                    arguments={"task_id": 1, "completed": False},
                )
            )
        key = f"{run_id}:0:0"
        reopen = {"task_id": 1, "completed": False}
        reopened = await call(client, "ann", "update_task", call_key=key, **reopen)
        expected = {"task_id": 1, "status": "updated", "title": "bread", "completed": False}
        assert reopened == (expected, False)
        # Done again by someone else; the replayed reopen returns its record and changes nothing.
        await ok(client, "ann", "complete_task", task_id=1)
        again = await call(client, "ann", "update_task", call_key=key, **reopen)
        assert again == (expected, False)
        assert (await ok(client, "ann", "list_tasks"))[0]["completed"] is True
        result, is_error = await call(client, "ann", "update_task", task_id=1, completed="maybe")
        assert is_error and "`completed` must be true or false" in result

    scenario(database_url, body)


def test_identify_decides_the_user_and_scopes_whatever_meta_says(database_url: str) -> None:
    """The /mcp path's seam: `identify` names the user; `_meta.user_id` and call_key are ignored."""

    def as_carol_reading(_ctx: object) -> Caller:
        return Caller("carol", scopes=frozenset({"tasks:read"}))

    async def body(database: Database, client: Client) -> None:
        async with database.transaction() as session:
            await service.add(session, "carol", "carol's", None)
            await service.add(session, "ann", "ann's", None)
        listed = await ok(client, "ann", "list_tasks")
        assert [t["title"] for t in listed] == ["carol's"]
        result, is_error = await call(client, "ann", "add_task", title="sneaky")
        assert is_error and "this API key lacks the scope tasks:write" in result
        async with database.transaction() as session:
            assert [t.title for t in await service.list_tasks(session, "ann")] == ["ann's"]

    scenario(database_url, body, identify=as_carol_reading)
