"""Parley messages as ChatKit thread items, with the ids the live stream gives them too.

A user message shows under the id ChatKit gave it when it was sent (kept in the run's
metadata), an assistant reply under an id made from its run, a tool call under its own id: so
an item streamed during a turn is the same item when the thread is loaded again.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    CustomTask,
    InferenceOptions,
    TaskItem,
    ThreadItem,
    ThreadMetadata,
    UserMessageItem,
    UserMessageTagContent,
    UserMessageTextContent,
)

from shared.conversations.models import Conversation, Message
from shared.conversations.schemas import ToolCallOut

# The run metadata key naming the user item a ChatKit turn was sent as.
USER_ITEM_KEY = "chatkit_user_item"
MAX_SHOWN_JSON = 2000


def thread_of(conversation: Conversation) -> ThreadMetadata:
    return ThreadMetadata(
        id=conversation.id, title=conversation.title, created_at=conversation.created_at
    )


def reply_item_id(run_id: str) -> str:
    """The assistant item of a run (a run writes at most one assistant message)."""
    return f"{run_id}_reply"


def message_text(item: UserMessageItem) -> str:
    """What the user wrote: text parts as they are, tags by their text."""
    parts = [
        part.text
        for part in item.content
        if isinstance(part, UserMessageTextContent | UserMessageTagContent)
    ]
    return "".join(parts)


def items_of(message: Message, run_meta: dict[str, Any] | None) -> list[ThreadItem]:
    """The items one message shows as: a user item; or its tool calls, then the reply."""
    thread_id, created = message.conversation_id, message.created_at
    if message.role == "user":
        item_id = str((run_meta or {}).get(USER_ITEM_KEY) or message.id)
        return [
            UserMessageItem(
                id=item_id,
                thread_id=thread_id,
                created_at=created,
                content=[UserMessageTextContent(text=message.content)],
                inference_options=InferenceOptions(),
            )
        ]
    calls = [ToolCallOut.model_validate(call) for call in message.tool_calls or []]
    items: list[ThreadItem] = [tool_item(thread_id, call, created) for call in calls]
    reply_id = reply_item_id(message.run_id) if message.run_id else message.id
    items.append(assistant_item(thread_id, reply_id, message.content, created))
    return items


def assistant_item(thread_id: str, item_id: str, text: str, created: dt.datetime) -> ThreadItem:
    return AssistantMessageItem(
        id=item_id,
        thread_id=thread_id,
        created_at=created,
        content=[AssistantMessageContent(text=text)],
    )


def tool_item(thread_id: str, call: ToolCallOut, created: dt.datetime) -> ThreadItem:
    """A finished tool call as a task item: its name, arguments and result, visible."""
    arguments = _short_json(call.arguments)
    result = _short_json(call.result)
    outcome = "Error" if call.is_error else "Result"
    return TaskItem(
        id=call.id,
        thread_id=thread_id,
        created_at=created,
        task=CustomTask(
            title=f"{call.tool_name}",
            icon="bug" if call.is_error else "check-circle",
            content=f"Arguments: `{arguments}`\n\n{outcome}: `{result}`",
            status_indicator="complete",
        ),
    )


def _short_json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_SHOWN_JSON else text[:MAX_SHOWN_JSON] + "…"
