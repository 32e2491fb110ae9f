"""Conversations and their messages (docs/api.md section 3)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import CurrentUser, UoW
from api.params import ConversationId, Cursor, Limit
from shared.conversations import service
from shared.conversations.schemas import ConversationCreate, ConversationOut, MessageOut
from shared.schemas import Page

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])


@router.post("", status_code=201)
async def create_conversation(
    body: ConversationCreate, user: CurrentUser, uow: UoW
) -> ConversationOut:
    """Start a conversation."""
    conversation = await service.create(uow.session, user, body.title, body.metadata)
    return ConversationOut.model_validate(conversation, from_attributes=True)


@router.get("")
async def list_conversations(
    user: CurrentUser, uow: UoW, limit: Limit = 20, after: Cursor = None
) -> Page[ConversationOut]:
    """The caller's conversations, newest first."""
    rows, has_more = await service.list_page(uow.session, user, limit, after)
    items = [ConversationOut.model_validate(c, from_attributes=True) for c in rows]
    return Page(data=items, has_more=has_more, next_cursor=items[-1].id if has_more else None)


@router.get("/{conversation_id}")
async def get_conversation(
    conversation_id: ConversationId, user: CurrentUser, uow: UoW
) -> ConversationOut:
    """One conversation."""
    return ConversationOut.model_validate(
        await service.get(uow.session, user, conversation_id), from_attributes=True
    )


@router.delete("/{conversation_id}", status_code=204)
async def delete_conversation(
    conversation_id: ConversationId, user: CurrentUser, uow: UoW
) -> Response:
    """Delete a conversation with its messages and runs."""
    await service.remove(uow.session, user, conversation_id)
    return Response(status_code=204)


@router.get("/{conversation_id}/messages")
async def list_messages(
    conversation_id: ConversationId,
    user: CurrentUser,
    uow: UoW,
    limit: Limit = 20,
    after: Cursor = None,
) -> Page[MessageOut]:
    """A conversation's messages, oldest first."""
    rows, has_more = await service.messages_page(uow.session, user, conversation_id, limit, after)
    items = [MessageOut.model_validate(m, from_attributes=True) for m in rows]
    return Page(data=items, has_more=has_more, next_cursor=items[-1].id if has_more else None)
