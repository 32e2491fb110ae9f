"""The ChatKit server: each user message becomes a Parley run, relayed back as it happens.

The agent never runs here: `respond` submits a run through the runs service (idempotency,
per-conversation ordering and rate limits apply) and follows that run's events, which any
API process can do. A stream that closes early (the user went away, or stopped it) leaves
the run going: ChatKit cannot tell the two apart, and losing a reply to a dropped connection
is worse, so the stream offers no stop button; the custom action `parley.cancel` (or
POST /v1/runs/{id}/cancel) cancels a turn.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from chatkit.actions import Action
from chatkit.errors import CustomStreamError
from chatkit.server import ChatKitServer
from chatkit.types import (
    NoticeEvent,
    StreamOptions,
    ThreadItem,
    ThreadMetadata,
    ThreadStreamEvent,
    UserMessageItem,
    WidgetItem,
)
from pydantic import ValidationError

from shared.chatkit.items import USER_ITEM_KEY, message_text
from shared.chatkit.relay import RunRelay
from shared.chatkit.store import ChatContext, NoAttachments, ParleyStore
from shared.errors import Conflict, DomainError
from shared.runs import service as runs_service
from shared.runs.schemas import RunCreate
from shared.uow import unit_of_work

log = logging.getLogger(__name__)

IDLE_SECONDS = 15.0
CANCEL_ACTION = "parley.cancel"
TITLE_LENGTH = 60


class ParleyChatKitServer(ChatKitServer[ChatContext]):
    """ChatKit's protocol with Parley's store and Parley's runs."""

    def __init__(self) -> None:
        super().__init__(ParleyStore(), NoAttachments())
        # The SDK's logger adds its own stderr handler when LOG_LEVEL is set (Parley's variable
        # too): its lines would print twice, once outside Parley's format (JSON in production).
        logging.getLogger("chatkit").handlers.clear()

    def get_stream_options(self, thread: ThreadMetadata, context: ChatContext) -> StreamOptions:
        return StreamOptions(allow_cancel=False)

    async def handle_stream_cancelled(
        self, thread: ThreadMetadata, pending_items: list[ThreadItem], context: ChatContext
    ) -> None:
        """The client went: the run goes on and writes its reply, shown when the thread loads."""
        log.info("ChatKit stream of thread %s closed early; its run goes on", thread.id)

    async def action(
        self,
        thread: ThreadMetadata,
        action: Action[str, Any],
        sender: WidgetItem | None,
        context: ChatContext,
    ) -> AsyncIterator[ThreadStreamEvent]:
        """`parley.cancel` (sent with ChatKit.js's sendCustomAction) cancels the thread's turns."""
        if action.type != CANCEL_ACTION:
            raise CustomStreamError(f"Parley knows one action, {CANCEL_ACTION!r}.")
        cancelled = await _cancel_turns(context, thread.id)
        message = f"Cancelled {cancelled} turn(s)." if cancelled else "No turn was running."
        yield NoticeEvent(level="info", message=message)

    async def respond(
        self,
        thread: ThreadMetadata,
        input_user_message: UserMessageItem | None,
        context: ChatContext,
    ) -> AsyncIterator[ThreadStreamEvent]:
        if input_user_message is None:
            raise CustomStreamError("Parley answers user messages only.")
        text = message_text(input_user_message)
        run_id = await _submit(context, thread.id, text, input_user_message.id)
        if thread.title is None:  # ChatKit saves the thread and tells the client
            thread.title = _title(text)
        relay = RunRelay(thread.id, run_id)
        async for event in context.events.follow(run_id, 0, IDLE_SECONDS):
            if event is None:
                continue  # idle: the protocol has no keep-alive event
            for out in relay.translate(event):
                yield out
        if relay.failure is not None:
            raise CustomStreamError(relay.failure)


async def _submit(context: ChatContext, thread_id: str, text: str, item_id: str) -> str:
    """Queue the turn as a run of the thread's conversation; the stream errors if refused."""
    try:
        body = RunCreate(message=text, conversation_id=thread_id, metadata={USER_ITEM_KEY: item_id})
    except ValidationError as exc:
        reasons = "; ".join(str(error["msg"]) for error in exc.errors())
        raise CustomStreamError(f"The message was refused: {reasons}") from None
    try:
        async with unit_of_work(context.database) as uow:
            run, _ = await runs_service.submit(
                uow.session,
                uow.dispatcher,
                context.user_id,
                body,
                context.idempotency_key,
                context.limiter,
            )
    except DomainError as exc:
        # No retry button: ChatKit's retry re-sends an item the refused turn never wrote.
        raise CustomStreamError(exc.detail) from None
    return run.id


async def _cancel_turns(context: ChatContext, thread_id: str) -> int:
    """Cancel the unfinished runs of a conversation: queued ones at once, a running one at its
    next step (its stream then ends with a notice)."""
    cancelled = 0
    async with unit_of_work(context.database) as uow:
        for run in await runs_service.active_runs(uow.session, thread_id):
            try:
                await runs_service.cancel(uow.session, uow.dispatcher, context.user_id, run.id)
            except Conflict:
                continue  # it ended meanwhile
            cancelled += 1
    return cancelled


def _title(text: str) -> str:
    """A new thread's title: the first line of its first message, like /v1/runs gives one."""
    line = text.strip().splitlines()[0]
    return line[:TITLE_LENGTH] + ("…" if len(line) > TITLE_LENGTH else "")
