"""Plain factories for in-process tests: a fresh SQLite database, runs in it, a private loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from shared.conversations.models import Conversation
from shared.db import Database
from shared.models import Base
from shared.runs.models import Run


async def create_database(path: Path, name: str = "test.db") -> Database:
    """A new SQLite database under `path` with every table."""
    database = Database(f"sqlite:///{path / name}")
    async with database.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    return database


async def create_run(
    database: Database, *, user_id: str = "u", status: str = "in_progress", **fields: Any
) -> str:
    """A run (in a conversation of its own) with the given columns; returns its id."""
    async with database.transaction() as session:
        conversation = Conversation(user_id=user_id, title="t", meta={})
        session.add(conversation)
        await session.flush()
        run = Run(
            user_id=user_id,
            conversation_id=conversation.id,
            status=status,
            input={"message": "m"},
            meta={},
            **fields,
        )
        session.add(run)
        await session.flush()
        return run.id


def run_in_own_loop(coro: Coroutine[Any, Any, None]) -> None:
    """asyncio.run in a thread of its own: another test's loop (Playwright's) may be running."""
    failure: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coro)
        except BaseException as exc:  # reported in the test's thread
            failure.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "the scenario did not finish"
    if failure:
        raise failure[0]
