"""One long-lived asyncio loop per worker process, shared by every turn it runs.

Celery's threads pool gives each task a thread; the task hands its coroutine to this loop
(`run_coroutine_threadsafe`) and blocks on the result. So one process holds hundreds of turns
in flight while they wait on the LLM, and async clients (AsyncOpenAI, the DB pool) live on a
single loop for the process's whole life (no "attached to a different loop").
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop
from mcp import Client
from mcp.server import MCPServer

from shared.config import Settings, get_settings
from shared.db import Database
from shared.events.bus import EventBus
from shared.events.store import attach_bus
from shared.mcp_servers.config import configured_servers
from shared.tools.todo import build_todo_server
from worker import metrics
from worker.agent.messages import tool_specs
from worker.agent.model import ChatModel, ToolSpec
from worker.lease import LeaseKeeper
from worker.mcp.toolset import ExternalServers
from worker.webhooks.sender import WebhookSender

log = logging.getLogger(__name__)
T = TypeVar("T")


def build_model(settings: Settings) -> ChatModel:
    """The OpenAI-compatible model when a key is set, else the offline rule-based one."""
    if settings.openai_api_key is None:
        from worker.agent.offline import OfflineModel

        log.warning("OPENAI_API_KEY is not set: using the offline rule-based model (no LLM)")
        return OfflineModel()
    from worker.agent.openai_model import OpenAIModel

    return OpenAIModel(settings)


class Runtime:
    """The worker process's loop and the resources that live on it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Validated before anything starts: a bad MCP_SERVERS_FILE stops the worker with why.
        servers = configured_servers(settings.mcp_servers_file)
        # uvloop: the loop's own overhead is a fair share of a turn's CPU (bench/results).
        self.loop = uvloop.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="parley-loop", daemon=True)
        self._ready = threading.Event()
        self._thread.start()
        self._ready.wait()
        # Publishes each committed event batch to Redis (services mode) without the turn waiting.
        self.bus = EventBus(settings.redis_url)
        self.database, self.keeper = self.call(self._open())
        self.model = build_model(settings)
        # Built once per process (8–20 ms a build, measured in bench/); every turn opens its
        # own MCP client session on it.
        self.todo_server = build_todo_server(self.database)
        # Its tool list never changes: listed once, not once per turn over MCP.
        self.todo_tools = self.call(_list_tools(self.todo_server))
        self.todo_tool_names = frozenset(t["function"]["name"] for t in self.todo_tools)
        # One session per external MCP server, opened at first use and kept for the process.
        self.mcp = ExternalServers(servers)
        # Webhook deliveries run on this loop through one pooled, guarded HTTP client.
        self.webhooks = WebhookSender(settings)
        # Imported here: the runs domain imports this module for its Runtime type.
        from worker.runs.inflight import InFlight

        self.inflight = InFlight(settings.worker_max_turns)
        # Read at scrape time: no cost per turn.
        metrics.TURNS_IN_FLIGHT.set_function(lambda: len(self.inflight))

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        self.loop.run_forever()

    async def _open(self) -> tuple[Database, LeaseKeeper]:
        database = Database(self.settings.database_url)
        self.bus.start()
        attach_bus(database.sessions, self.bus)
        # Heartbeats get their own connection: queued behind hundreds of turns in the shared
        # pool they would miss the lease and hand healthy runs to another worker.
        keeper = LeaseKeeper(
            Database(self.settings.database_url, pool_size=1),
            self.settings.run_lease_seconds,
            heartbeat_seconds=self.settings.worker_heartbeat_seconds,
            in_flight=lambda: len(self.inflight) if hasattr(self, "inflight") else 0,
        )
        await keeper.start()
        return database, keeper

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the loop and wait for it (from a Celery pool thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        async def _close() -> None:
            await self.inflight.drain(self.settings.worker_shutdown_grace_seconds)
            await self.keeper.stop()
            await self.keeper.database.dispose()
            await self.webhooks.aclose()
            await self.mcp.close()
            await self.bus.close()
            await self.database.dispose()

        try:
            self.call(_close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)


async def _list_tools(server: MCPServer) -> list[ToolSpec]:
    async with Client(server) as client:
        return await tool_specs(client)


_runtime: Runtime | None = None
_lock = threading.Lock()


def runtime() -> Runtime:
    """This process's runtime, created on first use (after any fork)."""
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = Runtime(get_settings())
        return _runtime


def shutdown() -> None:
    global _runtime
    with _lock:
        if _runtime is not None:
            _runtime.close()
            _runtime = None
