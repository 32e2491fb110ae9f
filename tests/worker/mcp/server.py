"""A real MCP server for the tests, built with the official SDK.

`python server.py http PORT NAME` serves MCP streamable HTTP on 127.0.0.1:PORT/mcp;
`python server.py stdio NAME` speaks MCP over stdin/stdout. With MCP_TEST_MARKER set, `slow`
writes that file when it starts (so a test knows a call is in flight).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context


def build(name: str) -> MCPServer:
    server = MCPServer(name)

    @server.tool()
    async def echo(ctx: Context, text: str) -> dict[str, Any]:
        """Echo the text back, with the user and call key the client sent in `_meta`."""
        meta = ctx.request_context.meta
        values = dict(meta) if isinstance(meta, dict) else {}
        return {
            "text": text,
            "server": name,
            "user_id": values.get("user_id"),
            "call_key": values.get("call_key"),
        }

    @server.tool()
    async def slow(seconds: float) -> dict[str, Any]:
        """Sleep `seconds`, then answer."""
        marker = os.environ.get("MCP_TEST_MARKER")
        if marker:
            Path(marker).write_text("started")
        await asyncio.sleep(seconds)
        return {"slept": seconds}

    @server.tool()
    async def hidden() -> str:
        """A tool the operator's allowed_tools leave out."""
        return "should never be called"

    return server


def main() -> None:
    if sys.argv[1] == "http":
        port, name = int(sys.argv[2]), sys.argv[3]
        build(name).run("streamable-http", host="127.0.0.1", port=port)
    else:
        build(sys.argv[2]).run("stdio")


if __name__ == "__main__":
    main()
