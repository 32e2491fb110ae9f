"""Public shapes of runs (docs/api.md section 4)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, Field, field_validator

from shared.conversations.schemas import ToolCallOut
from shared.runs.status import RunStatus
from shared.schemas import MetadataMixin, RequestModel

MultitaskStrategy = Literal["enqueue", "reject", "interrupt"]


class RunCreate(RequestModel, MetadataMixin):
    message: str = Field(min_length=1, max_length=32000)
    conversation_id: str | None = Field(None, min_length=1, max_length=40)
    webhook_url: str | None = Field(None, max_length=2048, pattern=r"^[Hh][Tt][Tt][Pp][Ss]?://")
    metadata: dict[str, Any] | None = None
    multitask_strategy: MultitaskStrategy = "enqueue"
    agent_id: str | None = Field(
        None, min_length=1, max_length=64, description="Your agent; null: the built-in todo agent."
    )

    @field_validator("message")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("message must not be blank")
        return value


class RunInput(BaseModel):
    message: str


class RunOutput(BaseModel):
    response: str
    tool_calls: list[ToolCallOut]


class RunError(BaseModel):
    code: str
    message: str


class RunUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class PendingToolCall(BaseModel):
    id: str
    tool_name: str
    arguments: dict[str, Any]


class RequiredAction(BaseModel):
    """What a requires_action run waits for: a person's decision on these tool calls."""

    type: Literal["tool_approval"] = "tool_approval"
    tool_calls: list[PendingToolCall]


class ToolDecision(RequestModel):
    tool_call_id: str = Field(min_length=1, max_length=40)
    approve: bool
    reason: str | None = Field(None, max_length=1000)


class ToolApprovals(RequestModel):
    """POST /v1/runs/{id}/tool-approvals: one decision for each call the run waits on."""

    decisions: list[ToolDecision] = Field(min_length=1, max_length=100)


class RunOut(BaseModel):
    id: str
    object: Literal["run"] = "run"
    conversation_id: str
    status: RunStatus
    input: RunInput
    output: RunOutput | None
    error: RunError | None
    usage: RunUsage | None
    # The column is `meta` on the row (`metadata` is taken by SQLAlchemy's declarative base).
    metadata: dict[str, Any] = Field(validation_alias=AliasChoices("meta", "metadata"))
    webhook_url: str | None
    # Null: the built-in todo agent. Older events and webhooks lack them: defaults keep them valid.
    agent_id: str | None = None
    agent_version: int | None = None
    # Set only while the run is requires_action.
    required_action: RequiredAction | None = None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None

    @field_validator("output", "error", "usage", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return value or None

    @field_validator("metadata", mode="before")
    @classmethod
    def _no_metadata_is_empty(cls, value: Any) -> Any:
        return value or {}


class BusyConversation(BaseModel):
    """409 body: `active_run_id` names the run a busy conversation is waiting on."""

    detail: str
    active_run_id: str | None = None
