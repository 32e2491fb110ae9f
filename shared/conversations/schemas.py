"""Public shapes of conversations and messages."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from shared.conversations.models import Conversation, Message
from shared.schemas import MetadataMixin, RequestModel


class ConversationCreate(RequestModel, MetadataMixin):
    title: str | None = Field(None, max_length=500)
    metadata: dict[str, Any] | None = None


class ConversationOut(BaseModel):
    id: str
    title: str | None
    metadata: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, conversation: Conversation) -> ConversationOut:
        return cls(
            id=conversation.id,
            title=conversation.title,
            metadata=conversation.meta or {},
            created_at=conversation.created_at,
            updated_at=conversation.updated_at,
        )


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

    @classmethod
    def of(cls, message: Message) -> MessageOut:
        return cls(
            id=message.id,
            conversation_id=message.conversation_id,
            run_id=message.run_id,
            role=message.role,
            content=message.content,
            tool_calls=[ToolCallOut.model_validate(tc) for tc in message.tool_calls or []],
            status=message.status,
            created_at=message.created_at,
        )
