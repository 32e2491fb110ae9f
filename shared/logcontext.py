"""What a log line concerns (request, Celery task, run, conversation), carried in contextvars.

Set once where it becomes known (the API's middleware, the worker's task and claim); every
line logged in that context, including by asyncio tasks started from it, carries the ids.
"""

from __future__ import annotations

import contextvars
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

FIELDS = ("request_id", "task_id", "run_id", "conversation_id")
_VARS: dict[str, contextvars.ContextVar[str | None]] = {
    name: contextvars.ContextVar(f"parley_{name}", default=None) for name in FIELDS
}


def bind(**values: str | None) -> None:
    """Set ids for the rest of the current context (unknown names are a programming error)."""
    for name, value in values.items():
        if value is not None:
            _VARS[name].set(value)


def clear() -> None:
    """Forget every id (a pool thread starting its next task)."""
    for var in _VARS.values():
        var.set(None)


def current() -> dict[str, str]:
    """The ids set in this context."""
    return {name: value for name, var in _VARS.items() if (value := var.get()) is not None}


async def bound(coro: Coroutine[Any, Any, T], **values: str | None) -> T:
    """Await `coro` with `values` bound: a coroutine handed to another thread's loop does not
    inherit the sender's context, so the ids travel with it explicitly."""
    bind(**values)
    return await coro
