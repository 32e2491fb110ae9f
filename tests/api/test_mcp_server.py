"""/mcp (issue 11): the official MCP client uses Parley's todo tools with the API's bearer auth."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, cast

import httpx
import httpx2
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.types import RequestParamsMeta

from tests.api.test_api_keys import create_key
from tests.factories import run_in_own_loop
from tests.stack import Api, Stack
from worker.agent.messages import tool_result_value

TOOLS = {"add_task", "list_tasks", "complete_task", "delete_task", "update_task"}


def token_of(api: Api) -> str:
    return str(api.headers["authorization"]).removeprefix("Bearer ")


@asynccontextmanager
async def mcp_client(stack: Stack, token: str | None) -> AsyncIterator[Client]:
    """The official client over streamable HTTP, sending `Authorization: Bearer <token>`."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        transport = streamable_http_client(f"{stack.api_url}/mcp", http_client=http)
        async with Client(transport) as client:
            yield client


def with_client(stack: Stack, token: str, body: Callable[[Client], Awaitable[None]]) -> None:
    async def main() -> None:
        async with mcp_client(stack, token) as client:
            await body(client)

    run_in_own_loop(main())


async def call(client: Client, tool: str, meta: dict[str, Any] | None = None, **args: Any) -> Any:
    outcome = await client.call_tool(tool, args, meta=cast(RequestParamsMeta | None, meta))
    return tool_result_value(outcome)


def titles(api: Api) -> list[str]:
    response = api.get("/v1/tasks")
    assert response.status_code == 200, response.text
    return [t["title"] for t in response.json()["data"]]


def test_a_client_lists_and_calls_the_tools_as_its_token_user(
    api: Api, other: Api, stack: Stack
) -> None:
    results: dict[str, Any] = {}

    async def body(client: Client) -> None:
        results["tools"] = {t.name: t for t in (await client.list_tools()).tools}
        results["added"] = await call(client, "add_task", title="Buy bread")
        # Naming another user in _meta changes nothing: the token says who acts.
        results["spoofed"] = await call(
            client, "add_task", {"user_id": other.user, "call_key": "x:0:0"}, title="Mine too"
        )
        results["listed"] = await call(client, "list_tasks", status="pending")
        results["done"] = await call(client, "complete_task", task_id=1)
        results["reopened"] = await call(client, "update_task", task_id=1, completed=False)

    with_client(stack, token_of(api), body)
    assert set(results["tools"]) == TOOLS
    schema = results["tools"]["update_task"].input_schema
    assert "completed" in schema["properties"] and "user_id" not in str(schema)
    assert results["added"] == ({"task_id": 1, "status": "created", "title": "Buy bread"}, False)
    assert results["spoofed"][0]["task_id"] == 2
    assert [t["title"] for t in results["listed"][0]] == ["Buy bread", "Mine too"]
    assert results["done"][0]["status"] == "completed"
    assert results["reopened"][0]["completed"] is False
    assert titles(api) == ["Buy bread", "Mine too"]
    assert titles(other) == []


def test_a_foreign_token_reaches_only_its_own_tasks(api: Api, other: Api, stack: Stack) -> None:
    for title in ("Ann's one", "Ann's two"):
        assert api.post("/v1/tasks", json={"title": title}).status_code == 201
    results: dict[str, Any] = {}

    async def body(client: Client) -> None:
        results["listed"] = await call(client, "list_tasks")
        results["complete"] = await call(client, "complete_task", task_id=2)
        results["delete"] = await call(client, "delete_task", task_id=1)
        results["added"] = await call(client, "add_task", title="Bob's")

    with_client(stack, token_of(other), body)
    assert results["listed"] == ([], False)
    for name in ("complete", "delete"):
        text, is_error = results[name]
        assert is_error and "not found" in text, (name, text)
    assert results["added"][0]["task_id"] == 1
    assert titles(api) == ["Ann's one", "Ann's two"]
    assert all(not t["completed"] for t in api.get("/v1/tasks").json()["data"])
    assert titles(other) == ["Bob's"]


@pytest.mark.parametrize("token", [None, "not-a-token", "pk_live_unknownkey0000000000000000000"])
def test_without_valid_credentials_the_answer_is_401(stack: Stack, token: str | None) -> None:
    headers = {"Accept": "application/json, text/event-stream"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    response = httpx.post(f"{stack.api_url}/mcp", json=request, headers=headers, timeout=30)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer ")
    assert response.json()["error"] == "invalid_token"
    failures: list[BaseException] = []

    async def main() -> None:
        try:
            async with mcp_client(stack, token) as client:
                await client.list_tools()
        except BaseException as exc:  # the client reports through exception groups
            failures.append(exc)

    run_in_own_loop(main())
    assert failures and _has(failures[0], MCPError), failures


def _has(exc: BaseException, kind: type[BaseException]) -> bool:
    if isinstance(exc, kind):
        return True
    return isinstance(exc, BaseExceptionGroup) and any(_has(e, kind) for e in exc.exceptions)


def test_an_api_key_acts_within_its_scopes(api: Api, stack: Stack) -> None:
    assert api.post("/v1/tasks", json={"title": "Water plants"}).status_code == 201
    reader = str(create_key(api, ["tasks:read"])["key"])
    writer = str(create_key(api, ["tasks:write"])["key"])
    unrelated = str(create_key(api, ["runs:read", "runs:write"])["key"])
    results: dict[str, Any] = {}

    def collect(name: str) -> Callable[[Client], Awaitable[None]]:
        async def body(client: Client) -> None:
            results[name] = (
                await call(client, "list_tasks"),
                await call(client, "add_task", title=f"by {name}"),
            )

        return body

    for name, key in (("reader", reader), ("writer", writer), ("unrelated", unrelated)):
        with_client(stack, key, collect(name))
    listed, added = results["reader"]
    assert [t["title"] for t in listed[0]] == ["Water plants"] and not listed[1]
    assert added[1] and "lacks the scope tasks:write" in added[0]
    listed, added = results["writer"]
    assert listed[1] and "lacks the scope tasks:read" in listed[0]
    assert added == ({"task_id": 2, "status": "created", "title": "by writer"}, False)
    for outcome in results["unrelated"]:
        assert outcome[1] and "lacks the scope tasks:" in outcome[0]
    assert titles(api) == ["Water plants", "by writer"]
