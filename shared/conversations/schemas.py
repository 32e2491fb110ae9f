"""Public shapes of conversations and messages."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, Field, field_validator

from shared.schemas import MetadataMixin, RequestModel


class ConversationCreate(RequestModel, MetadataMixin):
    title: str | None = Field(None, max_length=500)
    metadata: dict[str, Any] | None = None


class ConversationOut(BaseModel):
    id: str
    title: str | None
    # The column is `meta` on the row (`metadata` is taken by SQLAlchemy's declarative base).
    metadata: dict[str, Any] = Field(validation_alias=AliasChoices("meta", "metadata"))
    created_at: dt.datetime
    updated_at: dt.datetime

    @field_validator("metadata", mode="before")
    @classmethod
    def _no_metadata_is_empty(cls, value: Any) -> Any:
        return value or {}


class ToolCallOut(BaseModel):
    id: str
    tool_name: str
    arguments: dict[str, Any]
    result: Any
    is_error: bool


class MessageOut(BaseModel):
    id: str
    conversation_id: str
    run_id: str | None
    role: Literal["user", "assistant"]
    content: str
    tool_calls: list[ToolCallOut]
    status: Literal["completed", "incomplete"]
    created_at: dt.datetime

    @field_validator("tool_calls", mode="before")
    @classmethod
    def _no_tool_calls_is_empty(cls, value: Any) -> Any:
        return value or []
