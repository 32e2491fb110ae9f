"""What a custom agent's run runs with: the version of the agent it was submitted with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.agents.models import AgentVersion


@dataclass(frozen=True)
class AgentSpec:
    """An agent version as the worker uses it (None on a Turn: the built-in todo agent)."""

    agent_id: str
    version: int
    instructions: str
    model: str | None
    temperature: float | None
    tools: tuple[dict[str, Any], ...]
    approval: dict[str, str]

    @classmethod
    def of(cls, row: AgentVersion) -> AgentSpec:
        return cls(
            row.agent_id,
            row.version,
            row.instructions,
            row.model,
            row.temperature,
            tuple(row.tools or ()),
            dict(row.approval or {}),
        )

    @property
    def uses_todo(self) -> bool:
        return any(source.get("type") == "todo" for source in self.tools)
