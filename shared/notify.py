"""Run-change notifications over Redis pub/sub, so long-polls wake at once instead of polling."""

from __future__ import annotations

import logging

import redis.asyncio as aioredis

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "parley:run:"


def channel(run_id: str) -> str:
    return CHANNEL_PREFIX + run_id


class RunNotifier:
    """Publishes "this run changed" after the change is committed (best effort)."""

    def __init__(self, redis_url: str | None) -> None:
        self._redis = aioredis.from_url(redis_url) if redis_url else None

    async def run_changed(self, run_id: str, status: str) -> None:
        if self._redis is None:
            return
        try:
            await self._redis.publish(channel(run_id), status)
        except Exception:
            log.warning("run %s: change notification failed; waiters will poll", run_id)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
