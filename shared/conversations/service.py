"""Conversation and message operations, scoped to one user; callers commit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.conversations.models import Conversation, Message
from shared.db import utcnow
from shared.errors import NotFound
from shared.pagination import fetch_page
from shared.runs.models import Run


async def create(
    session: AsyncSession, user_id: str, title: str | None, metadata: dict[str, Any] | None
) -> Conversation:
    conversation = Conversation(user_id=user_id, title=title, meta=metadata or {})
    session.add(conversation)
    await session.flush()
    return conversation


async def get(
    session: AsyncSession, user_id: str, conversation_id: str, *, lock: bool = False
) -> Conversation:
    """The user's conversation; someone else's id is indistinguishable from a missing one."""
    query = select(Conversation).where(
        Conversation.id == conversation_id, Conversation.user_id == user_id
    )
    if lock:
        # FOR NO KEY UPDATE: submits still take turns, but a worker inserting the turn's
        # messages (a foreign-key check takes FOR KEY SHARE on this row) is never blocked. A
        # plain FOR UPDATE deadlocked an interrupting submit against a claiming worker.
        query = query.with_for_update(key_share=True)
    conversation = (await session.execute(query)).scalar_one_or_none()
    if conversation is None:
        raise NotFound("conversation not found")
    return conversation


async def list_page(
    session: AsyncSession, user_id: str, limit: int, after: str | None
) -> tuple[Sequence[Conversation], bool]:
    query = select(Conversation).where(Conversation.user_id == user_id)
    return await fetch_page(
        session, query, Conversation.id, limit=limit, after=after, newest_first=True
    )


async def remove(session: AsyncSession, user_id: str, conversation_id: str) -> None:
    """Delete a conversation; its messages, runs and tool calls go with it (ON DELETE CASCADE)."""
    conversation = await get(session, user_id, conversation_id)
    # Lock the runs before the conversation row, in the order a worker takes them (run, then
    # the conversation via its messages' foreign key): opposite orders deadlock on PostgreSQL
    # when a turn is running. Its worker then finds the run gone and stops.
    await session.execute(
        select(Run.id).where(Run.conversation_id == conversation.id).with_for_update()
    )
    await session.execute(delete(Conversation).where(Conversation.id == conversation.id))


async def messages_page(
    session: AsyncSession, user_id: str, conversation_id: str, limit: int, after: str | None
) -> tuple[Sequence[Message], bool]:
    await get(session, user_id, conversation_id)
    query = select(Message).where(Message.conversation_id == conversation_id)
    return await fetch_page(
        session, query, Message.id, limit=limit, after=after, newest_first=False
    )


async def history(session: AsyncSession, conversation_id: str, limit: int) -> Sequence[Message]:
    """The last `limit` messages of a conversation, oldest first: the model's context."""
    rows = await session.execute(
        select(Message)
        .where(Message.conversation_id == conversation_id)
        .order_by(Message.id.desc())
        .limit(limit)
    )
    return list(reversed(rows.scalars().all()))


def touch(conversation: Conversation) -> None:
    conversation.updated_at = utcnow()
