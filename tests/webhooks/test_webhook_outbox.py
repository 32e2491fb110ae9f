"""The outbox's state machine, called directly against a real (SQLite) database."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Select, select

from shared.db import Database, utcnow
from shared.dispatch import Dispatcher, Job
from shared.runs.models import Run
from shared.webhooks import outbox, recovery
from shared.webhooks.models import WebhookDelivery, WebhookMessage
from tests.factories import create_database, create_run

SCHEDULE = [0.5, 120.0]
FAILURE = outbox.AttemptResult(outbox.HTTP_ERROR, 500, "HTTP 500", 3)


def with_database(tmp_path: Path, body: Callable[[Database], Awaitable[None]]) -> None:
    async def go() -> None:
        database = await create_database(tmp_path, "outbox.db")
        try:
            await body(database)
        finally:
            await database.dispose()

    asyncio.run(go())


async def ended_run(database: Database, dispatcher: Dispatcher) -> str:
    run_id = await create_run(
        database,
        user_id="u1",
        status="completed",
        output={"response": "hello", "tool_calls": []},
        webhook_url="http://127.0.0.1:9/hook",
        finished_at=utcnow(),
    )
    async with database.transaction() as session:
        run = await session.get(Run, run_id)
        assert run is not None
        message = await outbox.enqueue(session, dispatcher, run)
        assert message is not None
        assert await outbox.enqueue(session, dispatcher, run) is message  # once per run
        return message.id


def test_enqueue_claim_record_and_retry(tmp_path: Path) -> None:
    async def body(database: Database) -> None:
        dispatcher = Dispatcher()
        message_id = await ended_run(database, dispatcher)
        assert dispatcher.pending == [Job(outbox.DELIVER_TASK, (message_id,))]

        async with database.transaction() as session:
            claimed = await outbox.claim(session, message_id, "t1", 30)
            assert claimed is not None and claimed.attempts == 1
            assert await outbox.claim(session, message_id, "t2", 30) is None  # held
        async with database.transaction() as session:
            after = await outbox.record(session, claimed, "t1", FAILURE, SCHEDULE, random.Random(1))
        assert after.status == outbox.PENDING and after.countdown
        assert after.delay is not None and 0 <= after.delay <= SCHEDULE[0]

        await asyncio.sleep(SCHEDULE[0])
        async with database.transaction() as session:
            claimed = await outbox.claim(session, message_id, "t3", 30)
            assert claimed is not None and claimed.attempts == 2
        async with database.transaction() as session:
            after = await outbox.record(session, claimed, "t3", FAILURE, SCHEDULE, random.Random(2))
        # The second retry may be minutes out: beat's sweeper sends it, not a countdown
        # (unless the jitter happened to draw a short delay).
        assert after.countdown == (after.delay is not None and after.delay <= 60)
        async with database.transaction() as session:
            message = await session.get(WebhookMessage, message_id)
            assert message is not None and message.status == outbox.PENDING
            assert message.round_attempts == 2

    with_database(tmp_path, body)


def test_unclaim_is_not_an_attempt_and_lost_attempts_are_logged(tmp_path: Path) -> None:
    async def body(database: Database) -> None:
        message_id = await ended_run(database, Dispatcher())
        async with database.transaction() as session:
            assert await outbox.claim(session, message_id, "t1", 30) is not None
            assert await outbox.unclaim(session, message_id, "t1", 0)
            message = await session.get(WebhookMessage, message_id, populate_existing=True)
            assert message is not None and (message.attempts, message.round_attempts) == (0, 0)

        async with database.transaction() as session:  # a worker claims, then dies
            assert await outbox.claim(session, message_id, "t2", 0.01) is not None
        await asyncio.sleep(0.05)
        async with database.transaction() as session:
            assert await recovery.recover_lost(session, SCHEDULE, 10) == 1
            due = await recovery.due_for_dispatch(session, dt.timedelta(seconds=60), 10)
            assert due == [message_id]
            assert await recovery.due_for_dispatch(session, dt.timedelta(seconds=60), 10) == []
        async with database.transaction() as session:
            [lost] = (await session.execute(_attempts(message_id))).scalars().all()
            assert (lost.attempt, lost.outcome) == (1, outbox.WORKER_LOST)

    with_database(tmp_path, body)


def _attempts(message_id: str) -> Select[Any]:
    return select(WebhookDelivery).where(WebhookDelivery.message_id == message_id)
