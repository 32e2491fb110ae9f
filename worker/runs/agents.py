"""The agent a turn runs: the built-in todo agent, or the user's agent at the version the run
was submitted with (its instructions, model, temperature and tool sources)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from worker.agent.loop import AgentLoop, Turn, TurnFailed
from worker.agent.openai_model import OpenAIModel
from worker.runtime import Runtime

OFFLINE_MESSAGE = (
    "this agent needs an LLM, and none is configured (set OPENAI_API_KEY, and OPENAI_BASE_URL "
    "for another endpoint): the built-in offline model only runs the default todo agent"
)


async def agent_for(
    rt: Runtime, turn: Turn, before_event: Callable[[], Awaitable[None]]
) -> AgentLoop:
    """The loop for this turn; TurnFailed when its agent cannot run here."""
    max_steps = rt.settings.agent_max_steps
    spec = turn.agent
    if turn.agent_id is None:
        return AgentLoop(
            rt.database,
            rt.model,
            max_steps,
            before_event,
            tools=rt.todo_tools,
            self_recording=rt.todo_tool_names,
        )
    if spec is None:
        raise TurnFailed("agent_unavailable", "the agent version of this run no longer exists")
    if rt.model.offline or not isinstance(rt.model, OpenAIModel):
        # Rules written for the todo agent would ignore the agent's instructions: say so
        # rather than pretend.
        raise TurnFailed("model_unavailable", OFFLINE_MESSAGE)
    external = await rt.mcp.toolset(spec.tools)
    tools = (list(rt.todo_tools) if spec.uses_todo else []) + external.specs
    return AgentLoop(
        rt.database,
        rt.model.variant(spec.model, spec.temperature),
        max_steps,
        before_event,
        tools=tools,
        self_recording=rt.todo_tool_names,
        system_prompt=spec.instructions,
        external=external,
        approval=frozenset(tool for tool, mode in spec.approval.items() if mode == "always"),
    )
