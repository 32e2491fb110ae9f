"""Jobs buffered during a unit of work and sent only after it commits (dropped on rollback)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class Dispatcher:
    """Collects task sends; `flush` after commit, `discard` on rollback."""

    pending: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)

    def defer(self, task_name: str, *args: str) -> None:
        self.pending.append((task_name, args))

    def discard(self) -> None:
        self.pending.clear()

    async def flush(self) -> None:
        """Publish every buffered task off the event loop (broker I/O is blocking)."""
        from shared.celery_app import send

        jobs, self.pending = self.pending, []
        for name, args in jobs:
            await asyncio.to_thread(send, name, *args)
