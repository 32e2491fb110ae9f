"""The API's light check of the external MCP servers for /readyz: a handshake with a short
timeout (streamable HTTP) or the command's presence (stdio: the worker starts those), cached so
a busy probe does not become load on the servers. A server down never fails readiness."""

from __future__ import annotations

import asyncio
import shutil
import time
from typing import Any

from shared.mcp_servers.config import HttpServer, ServersFile, StdioServer
from shared.mcp_servers.connect import open_client

PROBE_SECONDS = 2.0
CACHE_SECONDS = 15.0


class ServerProbe:
    """Each configured server's last known state, refreshed at most every CACHE_SECONDS."""

    def __init__(self, servers: ServersFile) -> None:
        self.servers = servers.servers
        self._states: dict[str, dict[str, Any]] = {}
        self._at = float("-inf")
        self._lock = asyncio.Lock()

    async def states(self) -> dict[str, dict[str, Any]]:
        async with self._lock:
            if time.monotonic() - self._at >= CACHE_SECONDS:
                found = await asyncio.gather(*(_probe(s) for s in self.servers))
                self._states = {s.name: state for s, state in zip(self.servers, found, strict=True)}
                self._at = time.monotonic()
            return self._states


async def _probe(server: HttpServer | StdioServer) -> dict[str, Any]:
    state: dict[str, Any] = {
        "transport": "stdio" if isinstance(server, StdioServer) else "streamable_http"
    }
    if isinstance(server, StdioServer):
        found = shutil.which(server.command) is not None
        return {"ok": found, **state, **({} if found else {"error": "command not found"})}
    try:
        await asyncio.wait_for(_handshake(server), PROBE_SECONDS)
    except Exception as exc:  # a probe reports; it never raises
        return {"ok": False, **state, "error": _reason(exc)}
    return {"ok": True, **state}


async def _handshake(server: HttpServer) -> None:
    async with open_client(server):
        pass


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {PROBE_SECONDS:g} s"
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return type(exc).__name__
