"""Per-user submit rate limit, shared by every API process: Redis, or the database if embedded."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import time
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.errors import RateLimited
from shared.ids import id_floor
from shared.runs.models import Run

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60
# One API process's Redis connections for the limiter. When all are busy a request waits for
# one (BlockingConnectionPool): the default pool raised MaxConnectionsError at 100, which
# looked like "Redis down" and sent a burst of 200 submits to the database count, which
# cannot see requests in flight (125-129 of 200 passed a limit of 60). Few connections and
# patient timeouts: with 50 connections and a 1 s connect timeout, a burst of 200 on a busy
# event loop timed out connecting and 103 passed.
REDIS_POOL_SIZE = 20
REDIS_POOL_WAIT_SECONDS = 10.0
REDIS_TIMEOUT_SECONDS = 5.0
# After a Redis failure every submit of this process counts in the database for this long, so
# a flapping Redis does not split one burst between two counters that cannot see each other.
FALLBACK_SECONDS = 10.0


class RateLimiter(Protocol):
    async def check(self, session: AsyncSession, user_id: str) -> None:
        """Raise RateLimited (429 + Retry-After) if the user may not submit now."""
        ...

    async def close(self) -> None:
        """Release what the limiter holds open (the API's lifespan calls it at shutdown)."""
        ...


class Unlimited:
    """RATE_LIMIT_RUNS_PER_MINUTE=0."""

    async def check(self, session: AsyncSession, user_id: str) -> None:
        return None

    async def close(self) -> None:
        return None


class DatabaseRateLimiter:
    """Counts the user's runs created in the last minute (embedded mode).

    Run ids start with their creation time, so "created in the last minute" is an index range
    on (user_id, id) — no extra table, no extra write. A count sees only committed runs, so
    one user's submits take turns until commit: SQLite's BEGIN IMMEDIATE already serialises
    writers, PostgreSQL takes a transaction-scoped advisory lock on the user.
    """

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute

    async def check(self, session: AsyncSession, user_id: str) -> None:
        if session.get_bind().dialect.name == "postgresql":
            digest = hashlib.sha256(f"parley-rate-limit\x00{user_id}".encode()).digest()
            await session.execute(
                text("SELECT pg_advisory_xact_lock(:k)"),
                {"k": int.from_bytes(digest[:8], "big", signed=True)},
            )
        since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=WINDOW_SECONDS)
        recent = select(Run.created_at).where(
            Run.user_id == user_id, Run.id >= id_floor("run", since)
        )
        count = await session.scalar(select(func.count()).select_from(recent.subquery()))
        if (count or 0) < self.per_minute:
            return
        oldest = await session.scalar(
            recent.order_by(Run.id).offset(max(0, (count or 0) - self.per_minute)).limit(1)
        )
        wait = WINDOW_SECONDS - (dt.datetime.now(dt.UTC) - oldest).total_seconds() if oldest else 1
        raise RateLimited(
            f"rate limit of {self.per_minute} runs per minute exceeded", math.ceil(max(1.0, wait))
        )

    async def close(self) -> None:
        return None


class RedisRateLimiter:
    """Sliding-window counter in Redis (services mode): two minute buckets, weighted.

    If Redis is down the database count takes over, so a broker outage neither lifts the
    limit nor turns submits into errors.
    """

    def __init__(self, redis_url: str, per_minute: int) -> None:
        pool = aioredis.BlockingConnectionPool.from_url(
            redis_url,
            max_connections=REDIS_POOL_SIZE,
            timeout=REDIS_POOL_WAIT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
        )
        self.redis = aioredis.Redis.from_pool(pool)
        self.per_minute = per_minute
        self.fallback = DatabaseRateLimiter(per_minute)
        self.fallback_until = 0.0

    async def check(self, session: AsyncSession, user_id: str) -> None:
        if time.monotonic() < self.fallback_until:
            await self.fallback.check(session, user_id)
            return
        try:
            await self._check_redis(user_id)
        except RedisError as exc:
            if time.monotonic() >= self.fallback_until:
                log.warning(
                    "rate limiter: Redis unavailable (%s: %s), counting in the database for %d s",
                    type(exc).__name__,
                    exc,
                    FALLBACK_SECONDS,
                )
            self.fallback_until = time.monotonic() + FALLBACK_SECONDS
            await self.fallback.check(session, user_id)

    async def _check_redis(self, user_id: str) -> None:
        now = time.time()
        bucket = int(now // WINDOW_SECONDS)
        elapsed = (now % WINDOW_SECONDS) / WINDOW_SECONDS
        key, previous_key = f"parley:rl:{user_id}:{bucket}", f"parley:rl:{user_id}:{bucket - 1}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, WINDOW_SECONDS * 2)
            pipe.get(previous_key)
            current, _, previous = await pipe.execute()
        estimate = int(current) - 1 + int(previous or 0) * (1 - elapsed)
        if estimate < self.per_minute:
            return
        await self.redis.decr(key)  # a refused request does not count
        raise RateLimited(
            f"rate limit of {self.per_minute} runs per minute exceeded",
            math.ceil(WINDOW_SECONDS * (1 - elapsed)),
        )

    async def close(self) -> None:
        await self.redis.aclose()


def build_rate_limiter(redis_url: str | None, per_minute: int) -> RateLimiter:
    if per_minute <= 0:
        return Unlimited()
    if redis_url:
        return RedisRateLimiter(redis_url, per_minute)
    return DatabaseRateLimiter(per_minute)
