"""ChatKit's Store on Parley's database: a thread is a user's conversation, items are messages.

Items are never written through the store: a turn's user message, tool calls and reply are
written by its run on the worker (so ChatKit turns are turns like any other), which is why
`add_thread_item` and `save_item` keep nothing. Every read and write is scoped to the user of
the request; another user's thread is the same NotFound as a missing one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from chatkit.store import AttachmentStore, Store, StoreItemType
from chatkit.types import Attachment, AttachmentCreateParams, Page, ThreadItem, ThreadMetadata
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.chatkit.items import items_of, thread_of
from shared.conversations import service as conversations
from shared.conversations.models import Conversation, Message
from shared.db import Database
from shared.errors import DomainError, NotFound
from shared.events.hub import EventHub
from shared.ids import new_id
from shared.pagination import fetch_page
from shared.ratelimit import RateLimiter
from shared.runs.models import Run
from shared.uow import unit_of_work

MAX_PAGE = 100
MAX_TITLE = 500
# load_item looks this far back: items are found by id only for recent turns (retries, actions).
ITEM_LOOKUP_MESSAGES = 200


class Unsupported(DomainError):
    """A ChatKit feature Parley does not offer (attachments, editing items)."""

    status_code = 400


@dataclass(frozen=True)
class ChatContext:
    """What one /chatkit request acts with: its user and the process's resources."""

    user_id: str
    database: Database
    events: EventHub
    limiter: RateLimiter | None = None
    idempotency_key: str | None = None


class ParleyStore(Store[ChatContext]):
    """Threads and items read from (and thread titles written to) Parley's tables."""

    def generate_thread_id(self, context: ChatContext) -> str:
        return new_id("conv")

    def generate_item_id(
        self, item_type: StoreItemType, thread: ThreadMetadata, context: ChatContext
    ) -> str:
        """A fresh id; under an Idempotency-Key, the same one for every retry of the request,
        so the retried turn has the same body and the runs service replays its run."""
        if context.idempotency_key is None:
            return new_id("cki")
        digest = hashlib.sha256(f"{thread.id}\x00{context.idempotency_key}".encode())
        return "cki_" + digest.hexdigest()[:26]

    async def load_thread(self, thread_id: str, context: ChatContext) -> ThreadMetadata:
        async with context.database.sessions() as session:
            return thread_of(await _conversation(session, context.user_id, thread_id))

    async def save_thread(self, thread: ThreadMetadata, context: ChatContext) -> None:
        """Create the conversation behind a new thread, or rename an existing one."""
        if thread.title is not None and len(thread.title) > MAX_TITLE:
            raise Unsupported(f"a thread title is at most {MAX_TITLE} characters")
        async with unit_of_work(context.database) as uow:
            found = await uow.session.get(Conversation, thread.id)
            if found is None:
                uow.session.add(
                    Conversation(id=thread.id, user_id=context.user_id, title=thread.title)
                )
            elif found.user_id != context.user_id:
                raise NotFound("thread not found")
            else:
                found.title = thread.title
                conversations.touch(found)

    async def load_threads(
        self, limit: int, after: str | None, order: str, context: ChatContext
    ) -> Page[ThreadMetadata]:
        async with context.database.sessions() as session:
            query = select(Conversation).where(Conversation.user_id == context.user_id)
            rows, more = await fetch_page(
                session,
                query,
                Conversation.id,
                limit=_bounded(limit),
                after=after,
                newest_first=order != "asc",
            )
        return Page(
            data=[thread_of(row) for row in rows],
            has_more=more,
            after=rows[-1].id if rows else None,
        )

    async def load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: str, context: ChatContext
    ) -> Page[ThreadItem]:
        """A page of messages as items; the cursor is the last message's id, so a reply shown
        as several items (its tool calls, then the text) never splits across pages."""
        newest_first = order != "asc"
        async with context.database.sessions() as session:
            await _conversation(session, context.user_id, thread_id)
            query = select(Message).where(Message.conversation_id == thread_id)
            rows, more = await fetch_page(
                session,
                query,
                Message.id,
                limit=_bounded(limit),
                after=after,
                newest_first=newest_first,
            )
            metas = await _run_metadata(session, [m.run_id for m in rows if m.role == "user"])
        items: list[ThreadItem] = []
        for message in rows:
            shown = items_of(message, metas.get(message.run_id or ""))
            items += reversed(shown) if newest_first else shown
        return Page(data=items, has_more=more, after=rows[-1].id if rows else None)

    async def load_item(self, thread_id: str, item_id: str, context: ChatContext) -> ThreadItem:
        page = await self.load_thread_items(thread_id, None, ITEM_LOOKUP_MESSAGES, "desc", context)
        for item in page.data:
            if item.id == item_id:
                return item
        raise NotFound("item not found")

    async def delete_thread(self, thread_id: str, context: ChatContext) -> None:
        """Delete the conversation: its messages and runs go with it (a running turn stops)."""
        async with unit_of_work(context.database) as uow:
            await _conversation(uow.session, context.user_id, thread_id)
            await conversations.remove(uow.session, context.user_id, thread_id)

    async def add_thread_item(self, thread_id: str, item: ThreadItem, context: ChatContext) -> None:
        """Nothing to keep: the run writes the turn's messages itself."""

    async def save_item(self, thread_id: str, item: ThreadItem, context: ChatContext) -> None:
        """Nothing to keep: the run writes the turn's messages itself."""

    async def delete_thread_item(self, thread_id: str, item_id: str, context: ChatContext) -> None:
        raise Unsupported("items of a Parley thread cannot be deleted one by one")

    async def save_attachment(self, attachment: Attachment, context: ChatContext) -> None:
        raise Unsupported("attachments are not supported")

    async def load_attachment(self, attachment_id: str, context: ChatContext) -> Attachment:
        raise Unsupported("attachments are not supported")

    async def delete_attachment(self, attachment_id: str, context: ChatContext) -> None:
        raise Unsupported("attachments are not supported")


class NoAttachments(AttachmentStore[ChatContext]):
    """Uploads are refused with the protocol's error rather than the SDK's missing-store one."""

    async def create_attachment(
        self, input: AttachmentCreateParams, context: ChatContext
    ) -> Attachment:
        raise Unsupported("attachments are not supported")

    async def delete_attachment(self, attachment_id: str, context: ChatContext) -> None:
        raise Unsupported("attachments are not supported")


async def _conversation(session: AsyncSession, user_id: str, thread_id: str) -> Conversation:
    try:
        return await conversations.get(session, user_id, thread_id)
    except NotFound:
        raise NotFound("thread not found") from None


async def _run_metadata(
    session: AsyncSession, run_ids: list[str | None]
) -> dict[str, dict[str, Any]]:
    wanted = [run_id for run_id in run_ids if run_id]
    if not wanted:
        return {}
    rows = await session.execute(select(Run.id, Run.meta).where(Run.id.in_(wanted)))
    return {run_id: meta or {} for run_id, meta in rows.tuples()}


def _bounded(limit: int) -> int:
    return max(1, min(MAX_PAGE, limit))
