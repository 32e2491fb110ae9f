"""The API's lifespan closes what it opened: no Redis connection outlives the app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from api.main import create_app
from shared.config import Settings
from shared.ratelimit import RedisRateLimiter
from tests.stack import TEST_SECRET, RedisServer


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path).start()
    try:
        yield server
    finally:
        server.stop()


def _connections(url: str) -> int:
    """Clients connected to the server, not counting the one asking."""
    with redis.Redis.from_url(url) as client:
        return len(client.client_list()) - 1


def test_shutdown_closes_the_rate_limiters_redis_connection(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'shutdown.db'}",
        jwt_secret=TEST_SECRET,
        redis_url=redis_server.url,
        rate_limit_runs_per_minute=5,
    )
    app = create_app(settings)
    with TestClient(app) as client:
        limiter = app.state.limiter
        assert isinstance(limiter, RedisRateLimiter)
        assert client.portal is not None
        client.portal.call(limiter.redis.ping)  # the limiter's connection is now open
        assert _connections(redis_server.url) >= 1
    assert _connections(redis_server.url) == 0
