"""Agent operations: create, read, list, change (a new version each time), delete. Services
flush; the unit of work commits."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.agents.models import Agent, AgentVersion
from shared.agents.schemas import TODO_TOOLS, AgentCreate, AgentUpdate, McpSource, TodoSource
from shared.db import utcnow
from shared.errors import Conflict, NotFound, Unprocessable
from shared.mcp_servers.config import tool_name
from shared.pagination import fetch_page

MAX_AGENTS_PER_USER = 200
# The fields a version records (what a run of the agent runs with).
VERSIONED = ("instructions", "model", "temperature", "tools", "approval")


async def create(
    session: AsyncSession, user_id: str, body: AgentCreate, servers: Collection[str]
) -> Agent:
    """A new agent at version 1; its MCP servers must be configured (422 otherwise)."""
    tools = _tools(body.tools, servers)
    approval = dict(body.approval or {})
    _check_approval(approval, tools)
    count = await session.scalar(
        select(Agent.id)
        .where(Agent.user_id == user_id, Agent.deleted_at.is_(None))
        .offset(MAX_AGENTS_PER_USER - 1)
        .limit(1)
    )
    if count is not None:
        raise Conflict(f"at most {MAX_AGENTS_PER_USER} agents per user; delete one first")
    now = utcnow()
    agent = Agent(
        user_id=user_id,
        version=1,
        name=body.name,
        instructions=body.instructions,
        model=body.model,
        temperature=body.temperature,
        tools=tools,
        approval=approval,
        meta=body.metadata or {},
        created_at=now,
        updated_at=now,
    )
    session.add(agent)
    await session.flush()
    session.add(_version_of(agent))
    await session.flush()
    return agent


async def get(session: AsyncSession, user_id: str, agent_id: str, *, lock: bool = False) -> Agent:
    """The caller's agent; 404 for someone else's, a deleted or an unknown one."""
    query = select(Agent).where(
        Agent.id == agent_id, Agent.user_id == user_id, Agent.deleted_at.is_(None)
    )
    if lock:
        query = query.with_for_update()
    agent = (await session.execute(query)).scalar_one_or_none()
    if agent is None:
        raise NotFound("agent not found")
    return agent


async def list_page(
    session: AsyncSession, user_id: str, *, limit: int, after: str | None
) -> tuple[Sequence[Agent], bool]:
    query = select(Agent).where(Agent.user_id == user_id, Agent.deleted_at.is_(None))
    return await fetch_page(session, query, Agent.id, limit=limit, after=after, newest_first=True)


async def update(
    session: AsyncSession, user_id: str, agent_id: str, body: AgentUpdate, servers: Collection[str]
) -> Agent:
    """Apply the fields given; any change makes a new version (runs keep theirs)."""
    agent = await get(session, user_id, agent_id, lock=True)
    given = body.model_dump(exclude_unset=True)
    changes: dict[str, Any] = {}
    if "tools" in body.model_fields_set and body.tools is not None:
        changes["tools"] = _tools(body.tools, servers)
    for field in ("name", "instructions", "model", "temperature", "approval"):
        if field in given:
            changes[field] = given[field]
    if "metadata" in given:
        changes["meta"] = given["metadata"]
    tools = changes.get("tools", agent.tools)
    if "tools" in changes or "approval" in changes:
        _check_approval(changes.get("approval", agent.approval) or {}, tools)
    changed = {k: v for k, v in changes.items() if getattr(agent, k) != v}
    if not changed:
        return agent
    for field, value in changed.items():
        setattr(agent, field, value)
    agent.version += 1
    agent.updated_at = utcnow()
    session.add(_version_of(agent))
    await session.flush()
    return agent


async def delete(session: AsyncSession, user_id: str, agent_id: str) -> None:
    """Hide the agent; runs already submitted keep their version and still run."""
    agent = await get(session, user_id, agent_id, lock=True)
    agent.deleted_at = utcnow()
    await session.flush()


async def load_version(session: AsyncSession, agent_id: str, version: int) -> AgentVersion | None:
    """The version a run was submitted with (kept after the agent is deleted)."""
    return await session.get(AgentVersion, (agent_id, version))


def _version_of(agent: Agent) -> AgentVersion:
    return AgentVersion(
        agent_id=agent.id,
        version=agent.version,
        created_at=agent.updated_at,
        **{field: getattr(agent, field) for field in VERSIONED},
    )


def _tools(sources: Sequence[TodoSource | McpSource], servers: Collection[str]) -> list[Any]:
    """The sources as stored; unknown servers and repeated sources are refused (422)."""
    seen: set[str] = set()
    out: list[Any] = []
    for source in sources:
        key = source.server if isinstance(source, McpSource) else "todo"
        if key in seen:
            raise Unprocessable(f"tools: the source {key!r} is listed twice")
        seen.add(key)
        if isinstance(source, McpSource) and source.server not in servers:
            known = ", ".join(sorted(servers)) or "none are configured"
            raise Unprocessable(f"tools: unknown MCP server {source.server!r} ({known})")
        out.append(source.model_dump(exclude_none=True))
    return out


def _check_approval(approval: Mapping[str, str], tools: list[Any]) -> None:
    """Every tool named in `approval` must be one of the agent's tools (422 otherwise)."""
    todo = any(source["type"] == "todo" for source in tools)
    for name in approval:
        if todo and name in TODO_TOOLS:
            continue
        if any(_mcp_offers(source, name) for source in tools if source["type"] == "mcp"):
            continue
        raise Unprocessable(
            f"approval: {name!r} is not a tool of this agent (todo tools by name, "
            "MCP tools as <server>__<tool>)"
        )


def _mcp_offers(source: dict[str, Any], name: str) -> bool:
    prefix = tool_name(source["server"], "")
    if not name.startswith(prefix) or len(name) == len(prefix):
        return False
    allowed = source.get("allowed_tools")
    return allowed is None or name[len(prefix) :] in allowed
