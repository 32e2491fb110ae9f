"""One client session per external MCP server per worker process, reconnected after a failure.

The SDK's sessions live in anyio cancel scopes that must be entered and left by one task
(python-sdk #577, #922), so each session is owned by a task of its own that opens it, hands it
out, and closes it when told to; turns only send requests through it. A call that fails or
times out closes the session, and the next use opens a fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from typing import Any

from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, RequestParamsMeta, TextContent, Tool

from shared.mcp_servers.config import HttpServer, StdioServer
from shared.mcp_servers.connect import open_client

log = logging.getLogger(__name__)

TOOLS_TTL_SECONDS = 30.0
# JSON-RPC errors the server answered with (bad request, unknown method, invalid params,
# internal error): the session is fine, the call is not. Other codes (e.g. -32000, "Connection
# closed") mean the connection is gone.
ANSWERED = frozenset({-32600, -32601, -32602, -32603})


class ServerUnavailable(Exception):
    """The server could not be reached, failed or did not answer in time."""


class ServerSession:
    """The process's session to one server, and its tool list (cached TOOLS_TTL_SECONDS)."""

    def __init__(self, config: HttpServer | StdioServer) -> None:
        self.config = config
        self._client: Client | None = None
        self._owner: asyncio.Task[None] | None = None
        self._closing: asyncio.Event | None = None
        self._lock = asyncio.Lock()
        self._tools: list[Tool] | None = None
        self._tools_at = 0.0
        self.last_error: str | None = None

    @property
    def name(self) -> str:
        return self.config.name

    async def tools(self) -> list[Tool]:
        """The server's tools, listed at most every TOOLS_TTL_SECONDS; a stale list (or
        ServerUnavailable) when it does not answer."""
        if self._tools is not None and time.monotonic() - self._tools_at < TOOLS_TTL_SECONDS:
            return self._tools
        try:
            async with asyncio.timeout(self.config.timeout_seconds):
                client = await self._connected()
                listing = await client.list_tools(cache_mode="bypass")
        except Exception as exc:
            await self._failed(exc)
            if self._tools is not None:
                return self._tools
            raise ServerUnavailable(self._describe(exc)) from exc
        self._tools, self._tools_at = list(listing.tools), time.monotonic()
        return self._tools

    async def call(
        self, tool: str, arguments: dict[str, Any], meta: dict[str, Any]
    ) -> CallToolResult:
        """Call one tool within timeout_seconds (connecting if needed); ServerUnavailable if the
        server is down, fails or is too slow."""
        try:
            async with asyncio.timeout(self.config.timeout_seconds):
                client = await self._connected()
                return await client.call_tool(tool, arguments, meta=_meta(meta))
        except MCPError as exc:
            if exc.code in ANSWERED:
                text = f"Error: {exc.message}"
                return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
            await self._failed(exc)
            raise ServerUnavailable(self._describe(exc)) from exc
        except Exception as exc:
            await self._failed(exc)
            raise ServerUnavailable(self._describe(exc)) from exc

    async def _connected(self) -> Client:
        async with self._lock:
            if self._client is not None and self._owner is not None and not self._owner.done():
                return self._client
            loop = asyncio.get_running_loop()
            ready: asyncio.Future[Client] = loop.create_future()
            self._closing = asyncio.Event()
            # A context of its own: the session outlives the turn that opened it, and its log
            # lines must not carry that turn's ids.
            self._owner = loop.create_task(
                self._own(ready, self._closing),
                name=f"mcp-{self.name}",
                context=contextvars.Context(),
            )
            try:
                self._client = await asyncio.shield(ready)
            except BaseException:
                self._owner.cancel()
                self._client = None
                raise
            self.last_error = None
            log.info("MCP server %s: connected", self.name)
            return self._client

    async def _own(self, ready: asyncio.Future[Client], closing: asyncio.Event) -> None:
        """Open the session, hand it out, and close it when told (or when it breaks)."""
        try:
            async with open_client(self.config) as client:
                ready.set_result(client)
                await closing.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc if isinstance(exc, Exception) else ConnectionError())
            if not isinstance(exc, asyncio.CancelledError):
                log.warning("MCP server %s: session ended (%s)", self.name, self._describe(exc))
        finally:
            if self._owner is asyncio.current_task():
                self._client = None

    async def _failed(self, exc: BaseException) -> None:
        """Drop the session: the next use reconnects."""
        self.last_error = self._describe(exc)
        log.warning("MCP server %s: %s; reconnecting on next use", self.name, self.last_error)
        await self.close()

    async def close(self) -> None:
        owner, closing = self._owner, self._closing
        self._client = None
        if closing is not None:
            closing.set()
        if owner is not None and not owner.done():
            try:
                await asyncio.wait_for(asyncio.shield(owner), 5)
            except (TimeoutError, Exception):
                owner.cancel()
                with contextlib.suppress(BaseException):
                    await owner

    def _describe(self, exc: BaseException) -> str:
        if isinstance(exc, TimeoutError):
            return f"no answer within {self.config.timeout_seconds:g} s"
        while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
            exc = exc.exceptions[0]
        text = str(exc).splitlines()[0][:200] if str(exc) else ""
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _meta(values: dict[str, Any]) -> RequestParamsMeta:
    meta: RequestParamsMeta = values  # type: ignore[assignment]
    return meta
