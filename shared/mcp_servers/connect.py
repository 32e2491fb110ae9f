"""How to open an MCP client session to a configured server (the worker's pool and the API's
readiness probe both use it)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx2
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from shared.mcp_servers.config import HttpServer, StdioServer

CONNECT_SECONDS = 10.0


@contextlib.asynccontextmanager
async def open_client(server: HttpServer | StdioServer) -> AsyncIterator[Client]:
    """An entered `Client` for `server`; enter and leave it in the same task (anyio scopes)."""
    async with contextlib.AsyncExitStack() as stack:
        if isinstance(server, HttpServer):
            # Reads wait as long as a call may take; the caller enforces timeout_seconds itself.
            timeout = httpx2.Timeout(CONNECT_SECONDS, read=server.timeout_seconds + 5)
            http = await stack.enter_async_context(
                create_mcp_http_client(headers=dict(server.headers), timeout=timeout)
            )
            client = Client(streamable_http_client(server.url, http_client=http), cache=None)
        else:
            params = StdioServerParameters(
                command=server.command, args=list(server.args), env=dict(server.env) or None
            )
            client = Client(params, cache=None)
        yield await stack.enter_async_context(client)
