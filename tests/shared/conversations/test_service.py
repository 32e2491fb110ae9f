"""The conversation lock a submit takes never deadlocks with a worker writing the turn."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy import select, update

from shared.conversations import service as conversations
from shared.conversations.models import Message
from shared.db import Database
from shared.models import Base
from shared.runs import states
from shared.runs.models import Run
from tests.conftest import SERVER_TIERS, TIERS
from tests.factories import create_run, run_in_own_loop
from tests.stack import create_postgres_database, drop_postgres_database

# Row locks are PostgreSQL's; SQLite serialises whole transactions instead.
POSTGRES_TIERS = [t for t in TIERS if t in SERVER_TIERS][:1]


@pytest.fixture(params=POSTGRES_TIERS)
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    url = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)


def test_an_interrupting_submit_and_a_claiming_worker_both_commit(database_url: str) -> None:
    """The shape that deadlocked in CI: the worker holds the run and adds the user's message
    (a foreign key to the conversation); the submit holds the conversation and flags the run."""

    async def main() -> None:
        database = Database(database_url)
        try:
            async with database.engine.begin() as conn:
                await conn.run_sync(Base.metadata.create_all)
            run_id = await create_run(database, user_id="ann", status=states.IN_PROGRESS)
            async with database.transaction() as session:
                conversation_id = (
                    await session.execute(select(Run.conversation_id).where(Run.id == run_id))
                ).scalar_one()
            worker_holds_run, submit_holds_conversation = asyncio.Event(), asyncio.Event()

            async def worker() -> None:
                async with database.transaction() as session:
                    await session.execute(
                        update(Run).where(Run.id == run_id).values(lease_token="t")
                    )
                    worker_holds_run.set()
                    await submit_holds_conversation.wait()
                    await asyncio.sleep(0.2)  # the submit is now waiting for the run's row
                    session.add(
                        Message(conversation_id=conversation_id, run_id=run_id, role="user")
                    )
                    await session.flush()

            async def submit() -> bool:
                await worker_holds_run.wait()
                async with database.transaction() as session:
                    await conversations.get(session, "ann", conversation_id, lock=True)
                    submit_holds_conversation.set()
                    return await states.request_cancel(session, run_id)

            flagged = await asyncio.wait_for(asyncio.gather(worker(), submit()), timeout=30)
            assert flagged[1] is True
            async with database.transaction() as session:
                run = await session.get(Run, run_id)
                assert run is not None and run.cancel_requested
                messages = await session.execute(
                    select(Message).where(Message.conversation_id == conversation_id)
                )
                assert len(messages.scalars().all()) == 1
        finally:
            await database.dispose()

    run_in_own_loop(main())
