"""The unit of work: one session; commit, then publish the jobs buffered in it; drop them on
rollback. The API, the WebSocket handler, the worker and the sweepers all use it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import Database
from shared.dispatch import Dispatcher, LocalHandler


@dataclass
class UnitOfWork:
    """A session and the jobs to send once it commits."""

    session: AsyncSession
    dispatcher: Dispatcher = field(default_factory=Dispatcher)

    async def commit(self) -> None:
        """Commit now (for callers that go on, e.g. to wait), then publish what was buffered."""
        await self.session.commit()
        await self.dispatcher.flush()


@asynccontextmanager
async def unit_of_work(
    database: Database, local: Mapping[str, LocalHandler] | None = None
) -> AsyncIterator[UnitOfWork]:
    """Commit when the block ends (roll back and drop the jobs if it raises), then publish."""
    async with database.sessions() as session:
        uow = UnitOfWork(session, Dispatcher(local or {}))
        try:
            yield uow
            await session.commit()
        except BaseException:
            await session.rollback()
            uow.dispatcher.discard()
            raise
    await uow.dispatcher.flush()
