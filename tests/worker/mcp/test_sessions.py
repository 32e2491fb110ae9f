"""A worker process's session to one external server: the timeout, reconnection, tool caching."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from shared.mcp_servers.config import HttpServer, StdioServer
from tests.stack import free_port
from tests.worker.mcp.support import HttpMcpServer, stdio_command
from worker.mcp.sessions import ServerSession, ServerUnavailable


def test_a_slow_call_times_out_and_the_next_one_reconnects(tmp_path: Path) -> None:
    server = HttpMcpServer("web", free_port(), tmp_path / "web.log").start()
    config = HttpServer(
        name="web", transport="streamable_http", url=server.url, timeout_seconds=1.5
    )

    async def scenario() -> None:
        session = ServerSession(config)
        try:
            tools = await session.tools()
            assert {t.name for t in tools} == {"echo", "slow", "hidden"}
            assert await session.tools() is tools  # cached
            with pytest.raises(ServerUnavailable, match="no answer within 1.5 s"):
                await session.call("slow", {"seconds": 30}, {})
            assert session.last_error == "no answer within 1.5 s"
            answer = await session.call("echo", {"text": "hi"}, {"user_id": "u", "call_key": "k"})
            assert answer.structured_content == {
                "text": "hi",
                "server": "web",
                "user_id": "u",
                "call_key": "k",
            }
            unknown = await session.call("nope", {}, {})  # the server answered: a tool error
            assert unknown.is_error
        finally:
            await session.close()

    try:
        asyncio.run(scenario())
    finally:
        server.kill()


def test_a_stdio_server_is_started_once_and_stopped_on_close() -> None:
    command, args = stdio_command()
    config = StdioServer(name="local", transport="stdio", command=command, args=(*args, "local"))

    async def scenario() -> None:
        session = ServerSession(config)
        first = await session.call("echo", {"text": "1"}, {})
        owner = session._owner
        second = await session.call("echo", {"text": "2"}, {})
        assert [first.is_error, second.is_error] == [False, False]
        assert session._owner is owner  # one session (one subprocess) for both calls
        await session.close()
        assert owner is not None and owner.done()

    asyncio.run(scenario())
