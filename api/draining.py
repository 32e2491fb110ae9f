"""SIGTERM ends open event streams cleanly, so clients resume on another instance at once.

uvicorn waits (--timeout-graceful-shutdown) for open responses, then cuts them mid-body; an
SSE stream ended by the app instead closes its chunked body properly and the client reconnects
with Last-Event-ID. (WebSockets need nothing: uvicorn closes them with 1012, service restart.)
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import AsyncIterator
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")


class Draining:
    """Set when the server is asked to stop; streams end at their next step."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def install(self) -> None:
        """Chain onto the stop signals' handlers (uvicorn installs its own before the lifespan
        starts and restores the originals after, which drops this one too)."""
        if threading.current_thread() is not threading.main_thread():
            return  # an in-process test client: no signals to watch
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(sig)
            if not callable(previous):
                continue

            def handler(signum: int, frame: FrameType | None, previous: Any = previous) -> None:
                loop.call_soon_threadsafe(self.event.set)
                previous(signum, frame)

            signal.signal(sig, handler)

    async def until_draining(self, items: AsyncIterator[T]) -> AsyncIterator[T]:
        """`items` until they end or the server starts stopping, whichever comes first."""
        stop = asyncio.ensure_future(self.event.wait())
        step: asyncio.Future[T] | None = None
        try:
            while True:
                step = asyncio.ensure_future(anext(items))
                done, _ = await asyncio.wait({step, stop}, return_when=asyncio.FIRST_COMPLETED)
                if step not in done:
                    return
                try:
                    item = step.result()
                except StopAsyncIteration:
                    return
                step = None
                yield item
        finally:
            stop.cancel()
            if step is not None and not step.done():
                step.cancel()  # closes `items` from inside, running its cleanup
                with contextlib.suppress(BaseException):
                    await step
            elif step is None:
                aclose = getattr(items, "aclose", None)
                if aclose is not None:
                    with contextlib.suppress(Exception):
                        await aclose()
