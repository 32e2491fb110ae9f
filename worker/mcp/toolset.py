"""An agent's external tools: the servers it names, their tools namespaced `<server>__<tool>`
for the model, and calls routed back with the run's user and the call's idempotency key."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.mcp_servers.config import TOOL_NAME_RE, ServersFile, tool_name
from worker.agent.messages import tool_result_value, unwrap_tool_error
from worker.agent.model import ToolSpec
from worker.mcp.sessions import ServerSession, ServerUnavailable

log = logging.getLogger(__name__)


@dataclass
class Toolset:
    """The external tools one turn may use."""

    specs: list[ToolSpec] = field(default_factory=list)
    routes: dict[str, tuple[ServerSession, str]] = field(default_factory=dict)

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self.routes)

    async def call(
        self, name: str, arguments: dict[str, Any], meta: dict[str, Any]
    ) -> tuple[Any, bool]:
        """The call's result and error flag; a server that is down or too slow is a tool error
        the model reads (the run goes on)."""
        session, tool = self.routes[name]
        try:
            outcome = await session.call(tool, arguments, meta)
        except ServerUnavailable as exc:
            return f"Error: the MCP server {session.name} is unavailable ({exc})", True
        result, is_error = tool_result_value(outcome)
        if is_error:
            result = unwrap_tool_error(tool, str(result))
        return result, is_error


class ExternalServers:
    """The process's sessions to the servers of MCP_SERVERS_FILE."""

    def __init__(self, servers: ServersFile) -> None:
        self.sessions = {s.name: ServerSession(s) for s in servers.servers}

    async def toolset(self, sources: Sequence[dict[str, Any]]) -> Toolset:
        """The tools of the agent's `mcp` sources, listed concurrently; a server that is down
        and was never listed contributes none this turn."""
        wanted = [(s, self.sessions.get(s["server"])) for s in sources if s.get("type") == "mcp"]
        for source, session in wanted:
            if session is None:
                log.warning(
                    "MCP server %s is no longer configured; its tools are left out",
                    source["server"],
                )
        picked = [(source, session) for source, session in wanted if session is not None]
        listings = await asyncio.gather(
            *(session.tools() for _, session in picked), return_exceptions=True
        )
        toolset = Toolset()
        for (source, session), listing in zip(picked, listings, strict=True):
            if isinstance(listing, BaseException):
                log.warning(
                    "MCP server %s: tools unavailable this turn (%s)", session.name, listing
                )
                continue
            allowed = [session.config.allowed_tools, source.get("allowed_tools")]
            for tool in listing:
                if any(a is not None and tool.name not in a for a in allowed):
                    continue
                name = tool_name(session.name, tool.name)
                if not TOOL_NAME_RE.match(name):
                    log.warning(
                        "MCP server %s: tool %r has an unusable name", session.name, tool.name
                    )
                    continue
                toolset.routes[name] = (session, tool.name)
                toolset.specs.append(
                    {
                        "type": "function",
                        "function": {
                            "name": name,
                            "description": tool.description or "",
                            "parameters": tool.input_schema,
                        },
                    }
                )
        return toolset

    async def close(self) -> None:
        await asyncio.gather(*(s.close() for s in self.sessions.values()), return_exceptions=True)
