"""Public shapes of agents (docs/agents.md): tool sources, approval, create/patch bodies."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, Field, field_validator

from shared.mcp_servers.config import SERVER_NAME_PATTERN
from shared.schemas import MetadataMixin, NonBlankStr, RequestModel

# The built-in todo server's tools (shared/tools/todo.py; a test keeps the two in step).
TODO_TOOLS = ("add_task", "list_tasks", "complete_task", "delete_task", "update_task")
MAX_TOOL_SOURCES = 20
MAX_ALLOWED_TOOLS = 100

ToolName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
# "always": the call waits for a person's yes (shared.runs.approvals); "never": it does not.
ApprovalMode = Literal["always", "never"]


class TodoSource(RequestModel):
    """The built-in todo tools."""

    type: Literal["todo"]


class McpSource(RequestModel):
    """An external MCP server the operator configured, by name; optionally only some tools."""

    type: Literal["mcp"]
    server: str = Field(pattern=SERVER_NAME_PATTERN, max_length=32)
    allowed_tools: list[ToolName] | None = Field(None, max_length=MAX_ALLOWED_TOOLS)


ToolSource = Annotated[TodoSource | McpSource, Field(discriminator="type")]
Tools = Annotated[list[ToolSource], Field(max_length=MAX_TOOL_SOURCES)]
Approval = Annotated[dict[ToolName, ApprovalMode], Field(max_length=MAX_ALLOWED_TOOLS)]
Name = Annotated[NonBlankStr, Field(min_length=1, max_length=200)]
Instructions = Annotated[NonBlankStr, Field(min_length=1, max_length=32000)]
ModelName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^\S+$")]
# Strict: JSON `false` is not a temperature (lax mode would read it as 0.0).
Temperature = Annotated[float, Field(ge=0, le=2, strict=True)]


class AgentCreate(RequestModel, MetadataMixin):
    name: Name
    instructions: Instructions
    model: ModelName | None = Field(None, description="Model name; null: OPENAI_MODEL.")
    temperature: Temperature | None = Field(
        None, description="Sampling temperature; null: the endpoint's default."
    )
    tools: Tools = Field(description="Tool sources: the built-in todo tools, external MCP servers.")
    approval: Approval | None = Field(
        None, description='Tools that need a person\'s yes, e.g. {"delete_task": "always"}.'
    )
    metadata: dict[str, Any] | None = None


class AgentUpdate(RequestModel, MetadataMixin):
    """Fields to change; `model` or `temperature` set to null fall back to the defaults."""

    name: Name | None = None
    instructions: Instructions | None = None
    model: ModelName | None = None
    temperature: Temperature | None = None
    tools: Tools | None = None
    approval: Approval | None = None
    metadata: dict[str, Any] | None = None

    @field_validator("name", "instructions", "tools", "approval", "metadata", mode="before")
    @classmethod
    def _no_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be omitted but not null")
        return value


class AgentOut(BaseModel):
    id: str
    object: Literal["agent"] = "agent"
    name: str
    instructions: str
    model: str | None
    temperature: float | None
    tools: list[ToolSource]
    approval: dict[str, ApprovalMode]
    # The column is `meta` on the row (`metadata` is taken by SQLAlchemy's declarative base).
    metadata: dict[str, Any] = Field(validation_alias=AliasChoices("meta", "metadata"))
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @field_validator("metadata", "approval", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return value or {}
