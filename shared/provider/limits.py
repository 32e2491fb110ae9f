"""One limit toward the LLM provider for all worker processes: LLM_MAX_CONCURRENCY calls in
flight, LLM_REQUESTS_PER_MINUTE spread evenly (each call reserves the next free instant, so a
burst becomes a queue, not a 429), and a 429's Retry-After obeyed by every process at once.

The clocks live in Redis when there is one (services mode; a Lua script per step, so no read
and write can interleave) and in SQL otherwise (embedded mode, where SQLite's one writer keeps
each step atomic). With no limit configured and no Redis the block after a 429 stays in this
process: nothing is added to a turn's SQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

from sqlalchemy import Float, String, case, delete, func, insert, literal, select, update

from shared.config import Settings
from shared.db import Database, rowcount
from shared.provider.models import ProviderLimit

log = logging.getLogger(__name__)

# A holder that died keeps its slot at most this long (the SDK's request timeout is 120 s).
SLOT_SECONDS = 180.0
POLL_SECONDS = 0.05
PREFIX = "parley:llm:"

# (reason, seconds to wait or None when unknown), reported once per wait.
OnWait = Callable[[str, float | None], Awaitable[None]]

_RESERVE = """
local now = tonumber(ARGV[1])
local start = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
redis.call('SET', KEYS[1], tostring(start + tonumber(ARGV[2])), 'EX', 3600)
return tostring(start - now)
"""
_TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
  return 1
end
return 0
"""
_BLOCK = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], ARGV[1], 'EX', 3600) end
return 1
"""


class Clocks(Protocol):
    """Where the shared clocks live."""

    async def blocked_until(self) -> float: ...
    async def block_until(self, until: float) -> None: ...
    async def reserve(self, interval: float) -> float: ...
    async def take(self, holder: str, limit: int) -> bool: ...
    async def give(self, holder: str) -> None: ...


class LocalClocks:
    """This process only: the 429 block when there is neither Redis nor a configured limit."""

    def __init__(self) -> None:
        self._blocked = 0.0

    async def blocked_until(self) -> float:
        return self._blocked

    async def block_until(self, until: float) -> None:
        self._blocked = max(self._blocked, until)

    async def reserve(self, interval: float) -> float:
        raise NotImplementedError("limits are shared: they need Redis or the database")

    async def take(self, holder: str, limit: int) -> bool:
        raise NotImplementedError("limits are shared: they need Redis or the database")

    async def give(self, holder: str) -> None:
        return None


class RedisClocks:
    """Services mode: the clocks are Redis keys, each step one Lua script."""

    def __init__(self, redis_url: str) -> None:
        from redis import asyncio as aioredis

        self._redis = aioredis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)

    async def blocked_until(self) -> float:
        value = await self._redis.get(PREFIX + "blocked")
        return float(value) if value is not None else 0.0

    async def block_until(self, until: float) -> None:
        await self._redis.eval(_BLOCK, 1, PREFIX + "blocked", repr(until))

    async def reserve(self, interval: float) -> float:
        keys_args = (PREFIX + "rate", repr(time.time()), repr(interval))
        return float(await self._redis.eval(_RESERVE, 1, *keys_args))

    async def take(self, holder: str, limit: int) -> bool:
        now = time.time()
        args = (repr(now), repr(now + SLOT_SECONDS), str(limit), holder)
        return bool(await self._redis.eval(_TAKE, 1, PREFIX + "slots", *args))

    async def give(self, holder: str) -> None:
        await self._redis.zrem(PREFIX + "slots", holder)


class SqlClocks:
    """Embedded mode: the clocks are rows of `provider_limits`, each step one statement."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._database: Database | None = None

    @property
    def database(self) -> Database:
        if self._database is None:  # created on the worker's loop, at first use
            self._database = Database(self._url, pool_size=1)
        return self._database

    async def blocked_until(self) -> float:
        async with self.database.transaction() as session:
            row = await session.execute(
                select(ProviderLimit.until).where(ProviderLimit.key == "blocked")
            )
            return float(row.scalar_one_or_none() or 0.0)

    async def block_until(self, until: float) -> None:
        later = case((ProviderLimit.until > until, ProviderLimit.until), else_=until)
        async with self.database.transaction() as session:
            await session.execute(
                update(ProviderLimit).where(ProviderLimit.key == "blocked").values(until=later)
            )

    async def reserve(self, interval: float) -> float:
        now = time.time()
        start = case((ProviderLimit.until > now, ProviderLimit.until), else_=now)
        async with self.database.transaction() as session:
            row = await session.execute(
                update(ProviderLimit)
                .where(ProviderLimit.key == "rate")
                .values(until=start + interval)
                .returning(ProviderLimit.until)
            )
            return max(0.0, float(row.scalar_one()) - interval - now)

    async def take(self, holder: str, limit: int) -> bool:
        now = time.time()
        slots = ProviderLimit.key.like("slot:%")
        async with self.database.transaction() as session:
            await session.execute(delete(ProviderLimit).where(slots, ProviderLimit.until < now))
            held = select(func.count()).where(slots).scalar_subquery()
            taken = await session.execute(
                insert(ProviderLimit).from_select(
                    ["key", "until"],
                    select(
                        literal("slot:" + holder, String), literal(now + SLOT_SECONDS, Float)
                    ).where(held < limit),
                )
            )
            return rowcount(taken) == 1

    async def give(self, holder: str) -> None:
        async with self.database.transaction() as session:
            await session.execute(
                delete(ProviderLimit).where(ProviderLimit.key == "slot:" + holder)
            )


class ProviderLimiter:
    """Waits for the provider: its block after a 429, the request rate, a free call slot."""

    def __init__(self, settings: Settings, clocks: Clocks | None = None) -> None:
        self.max_concurrency = settings.llm_max_concurrency
        per_minute = settings.llm_requests_per_minute
        self.interval = 60.0 / per_minute if per_minute else 0.0
        if clocks is None:
            limited = bool(self.max_concurrency or self.interval)
            if settings.redis_url:
                clocks = RedisClocks(settings.redis_url)
            elif limited:
                clocks = SqlClocks(settings.database_url)
            else:
                clocks = LocalClocks()
        self.clocks = clocks

    async def block(self, seconds: float) -> None:
        """A 429 said wait `seconds`: every process waits that long before its next call."""
        await self.clocks.block_until(time.time() + seconds)

    @contextlib.asynccontextmanager
    async def call(self, on_wait: OnWait) -> AsyncIterator[None]:
        """Hold a call's place: past any 429 block, its turn in the rate, a slot in flight.

        If the clocks cannot be reached (Redis restarting) the call goes ahead unlimited: the
        provider's own 429s, retried, are the fallback; a turn never fails for the limiter.
        """
        holder = uuid.uuid4().hex
        held = False
        try:
            await self._wait_block(on_wait)
            if self.interval:
                delay = await self.clocks.reserve(self.interval)
                if delay > 0:
                    await on_wait("requests_per_minute", round(delay, 3))
                    await asyncio.sleep(delay)
            if self.max_concurrency:
                held = await self._take(holder, self.max_concurrency, on_wait)
        except Exception:
            log.warning("the shared LLM limits are unreachable; calling unlimited", exc_info=True)
        try:
            yield
        finally:
            if held:
                with contextlib.suppress(Exception):
                    await self.clocks.give(holder)

    async def _wait_block(self, on_wait: OnWait) -> None:
        while (blocked := await self.clocks.blocked_until() - time.time()) > 0:
            await on_wait("provider_rate_limited", round(blocked, 3))
            await asyncio.sleep(blocked)

    async def _take(self, holder: str, limit: int, on_wait: OnWait) -> bool:
        reported = False
        while not await self.clocks.take(holder, limit):
            if not reported:
                await on_wait("max_concurrency", None)
                reported = True
            await asyncio.sleep(POLL_SECONDS)
        return True
