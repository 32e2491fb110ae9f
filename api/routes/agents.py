"""Agents: your instructions, model and tool sources, versioned (docs/agents.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from api.deps import CurrentUser, UoW
from api.errors import error_responses
from api.params import Cursor, Limit
from shared.agents import service
from shared.agents.schemas import AgentCreate, AgentOut, AgentUpdate
from shared.schemas import Page, SafeStr

router = APIRouter(prefix="/v1/agents", tags=["agents"])

AgentId = Annotated[SafeStr, Path(min_length=1, max_length=64, description="An agent id.")]


def _servers(request: Request) -> frozenset[str]:
    """The names of the external MCP servers the operator configured (MCP_SERVERS_FILE)."""
    return frozenset(request.app.state.mcp_servers.by_name())


@router.post("", status_code=201, responses=error_responses(409))
async def create_agent(
    body: AgentCreate, user: CurrentUser, uow: UoW, request: Request
) -> AgentOut:
    """Create an agent (version 1); name MCP servers the operator configured."""
    agent = await service.create(uow.session, user, body, _servers(request))
    return AgentOut.model_validate(agent, from_attributes=True)


@router.get("")
async def list_agents(
    user: CurrentUser, uow: UoW, limit: Limit = 20, after: Cursor = None
) -> Page[AgentOut]:
    """Your agents, newest first."""
    rows, has_more = await service.list_page(uow.session, user, limit=limit, after=after)
    items = [AgentOut.model_validate(r, from_attributes=True) for r in rows]
    return Page(data=items, has_more=has_more, next_cursor=items[-1].id if has_more else None)


@router.get("/{agent_id}")
async def get_agent(agent_id: AgentId, user: CurrentUser, uow: UoW) -> AgentOut:
    """One agent, at its current version."""
    return AgentOut.model_validate(
        await service.get(uow.session, user, agent_id), from_attributes=True
    )


@router.patch("/{agent_id}")
async def update_agent(
    agent_id: AgentId, body: AgentUpdate, user: CurrentUser, uow: UoW, request: Request
) -> AgentOut:
    """Change an agent: any change is a new version; runs already submitted keep theirs."""
    agent = await service.update(uow.session, user, agent_id, body, _servers(request))
    return AgentOut.model_validate(agent, from_attributes=True)


@router.delete("/{agent_id}", status_code=204)
async def delete_agent(agent_id: AgentId, user: CurrentUser, uow: UoW) -> Response:
    """Delete an agent; runs already submitted with it still run."""
    await service.delete(uow.session, user, agent_id)
    return Response(status_code=204)
