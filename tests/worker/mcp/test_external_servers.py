"""External MCP servers used by agents in real turns: one over streamable HTTP and one over
stdio (both real servers, official SDK), a server killed mid-call, and one that is down."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from fakellm import FakeLLM
from tests.conftest import TIERS, running_stack
from tests.stack import Api, Stack, free_port
from tests.worker.mcp.support import HttpMcpServer, stdio_command
from tests.worker.support import requests_for, tag, wait_for


@dataclass
class McpStack:
    stack: Stack
    web: HttpMcpServer
    doomed: HttpMcpServer


@pytest.fixture(scope="module", params=TIERS)
def mcp(
    request: pytest.FixtureRequest, llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[McpStack]:
    workdir = tmp_path_factory.mktemp(f"mcp-{request.param}")
    web = HttpMcpServer("web", free_port(), workdir / "web.log").start()
    # Started (and killed) by its test; the worker connects when a turn first needs it.
    doomed = HttpMcpServer(
        "doomed", free_port(), workdir / "doomed.log", {"MCP_TEST_MARKER": str(workdir / "mark")}
    )
    command, args = stdio_command()
    servers = [
        {
            "name": "web",
            "transport": "streamable_http",
            "url": web.url,
            "timeout_seconds": 20,
            "allowed_tools": ["echo", "slow"],
        },
        {
            "name": "local",
            "transport": "stdio",
            "command": command,
            "args": [*args, "local"],
            "timeout_seconds": 20,
        },
        {
            "name": "doomed",
            "transport": "streamable_http",
            "url": doomed.url,
            "timeout_seconds": 20,
        },
        {
            "name": "ghost",
            "transport": "streamable_http",
            "url": f"http://127.0.0.1:{free_port()}/mcp",
            "timeout_seconds": 2,
        },
    ]
    path = workdir / "mcp-servers.json"
    path.write_text(json.dumps({"servers": servers}))
    env = {"MCP_SERVERS_FILE": str(path)}
    try:
        with running_stack(request, str(request.param), workdir, llm, extra_env=env) as stack:
            yield McpStack(stack, web, doomed)
    finally:
        web.kill()
        doomed.kill()


@pytest.fixture
def api(mcp: McpStack) -> Iterator[Api]:
    client = mcp.stack.client()
    yield client
    client.close()


def create_agent(api: Api, tools: list[dict[str, Any]]) -> str:
    body = {"name": "ext", "instructions": "Use the tools.", "tools": tools}
    response = api.post("/v1/agents", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def offered(request: dict[str, Any]) -> dict[str, Any]:
    return {t["function"]["name"]: t["function"] for t in request.get("tools") or []}


def test_tools_of_an_http_and_a_stdio_server_run_in_turns(api: Api, llm: FakeLLM) -> None:
    agent = create_agent(
        api,
        [
            {"type": "todo"},
            {"type": "mcp", "server": "web"},
            {"type": "mcp", "server": "local", "allowed_tools": ["echo"]},
        ],
    )
    for server in ("web", "local"):
        message = f'[[tool={server}__echo {{"text": "hi {server}"}}]] {tag()}'
        run = api.turn(message, agent_id=agent)
        assert run["status"] == "completed", run
        [call] = run["output"]["tool_calls"]
        assert call["tool_name"] == f"{server}__echo" and call["is_error"] is False
        # The run's user and the call's idempotency key arrive in `_meta`.
        assert call["result"] == {
            "text": f"hi {server}",
            "server": server,
            "user_id": api.user,
            "call_key": f"{run['id']}:0:0",
        }
        assert run["output"]["response"].startswith(f"Done. {server}__echo")
        tools = offered(requests_for(llm, message)[0])
        # The operator's allowed_tools hide web's `hidden`; the agent's keep only local's echo.
        assert {"web__echo", "web__slow", "local__echo", "add_task"} <= set(tools)
        assert not {"web__hidden", "local__slow", "local__hidden"} & set(tools)
        assert tools["web__echo"]["parameters"]["properties"]["text"]["type"] == "string"
        assert "Echo the text back" in tools["local__echo"]["description"]


def test_a_server_killed_mid_call_is_a_tool_error_and_the_run_completes(
    api: Api, mcp: McpStack
) -> None:
    marker = Path(mcp.doomed.env["MCP_TEST_MARKER"])
    marker.unlink(missing_ok=True)
    mcp.doomed.start()
    agent = create_agent(api, [{"type": "mcp", "server": "doomed"}])
    run = api.submit(f'[[tool=doomed__slow {{"seconds": 60}}]] {tag()}', agent_id=agent)
    wait_for("the slow call to start", marker.exists, timeout=60)
    mcp.doomed.kill()

    done = api.wait(run["id"], seconds=60)
    assert done["status"] == "completed", done
    [call] = done["output"]["tool_calls"]
    assert call["is_error"] is True
    assert call["result"].startswith("Error: the MCP server doomed is unavailable"), call
    assert done["output"]["response"].startswith("Sorry, that failed: Error: the MCP server")

    # Back up: the next turn's call opens a fresh session.
    mcp.doomed.start()
    again = api.turn(f'[[tool=doomed__echo {{"text": "back"}}]] {tag()}', agent_id=agent)
    assert again["status"] == "completed", again
    assert again["output"]["tool_calls"][0]["result"]["text"] == "back"
    mcp.doomed.kill()


def test_a_server_that_is_down_is_left_out_and_readyz_says_so(
    api: Api, mcp: McpStack, llm: FakeLLM
) -> None:
    agent = create_agent(
        api, [{"type": "mcp", "server": "ghost"}, {"type": "mcp", "server": "web"}]
    )
    message = f"Hello there {tag()}"
    run = api.turn(message, agent_id=agent)
    assert run["status"] == "completed", run
    assert set(offered(requests_for(llm, message)[0])) == {"web__echo", "web__slow"}

    ready = httpx.get(f"{mcp.stack.api_url}/readyz", timeout=30)
    assert ready.status_code == 200, ready.text
    check = ready.json()["checks"]["mcp_servers"]
    assert check["ok"] is False
    assert check["servers"]["ghost"]["ok"] is False and "error" in check["servers"]["ghost"]
    assert check["servers"]["web"] == {"ok": True, "transport": "streamable_http"}
    assert check["servers"]["local"] == {"ok": True, "transport": "stdio"}


def test_agents_may_name_only_configured_servers(api: Api) -> None:
    response = api.post(
        "/v1/agents",
        json={"name": "x", "instructions": "y", "tools": [{"type": "mcp", "server": "other"}]},
    )
    assert response.status_code == 422
    assert "unknown MCP server 'other' (doomed, ghost, local, web)" in response.text
