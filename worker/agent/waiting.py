"""How a model call tells its run that it is waiting on the provider, without the agent loop
passing the run along: the turn's task carries a reporter in a context variable."""

from __future__ import annotations

from contextvars import ContextVar

from shared.provider.limits import OnWait

# Set by the worker around each turn's task (worker.runs.inflight); unset: nobody to tell.
reporter: ContextVar[OnWait | None] = ContextVar("parley_waiting_reporter", default=None)


async def report(reason: str, retry_after: float | None) -> None:
    """Tell the current run why its next model call waits, and for how long if known."""
    current = reporter.get()
    if current is not None:
        await current(reason, retry_after)
