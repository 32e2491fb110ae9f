"""Session fixtures: one running stack per tier, shared by the tests that need one."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from fakellm import FakeLLM
from tests import rabbitmq
from tests.stack import (
    REDIS_URL,
    Api,
    RedisServer,
    Stack,
    check_services_reachable,
    create_postgres_database,
    drop_postgres_database,
    flush_redis,
)

# embedded: SQLite + the SQLite broker; services: PostgreSQL + Redis (broker and event bus);
# rabbitmq: PostgreSQL + Redis as the event bus + RabbitMQ as the broker (a private vhost).
KNOWN_TIERS = ("embedded", "services", "rabbitmq")
SERVER_TIERS = ("services", "rabbitmq")
TIERS = [t.strip() for t in os.environ.get("PARLEY_TEST_TIERS", "embedded").split(",") if t.strip()]
for _tier in TIERS:
    if _tier not in KNOWN_TIERS:
        raise pytest.UsageError(f"unknown tier {_tier!r} in PARLEY_TEST_TIERS")
# The tiers with servers to break: the chaos suite runs on each of them.
CHAOS_TIERS = [t for t in TIERS if t in SERVER_TIERS]

# The chaos suite restarts brokers and blocks PostgreSQL: it belongs to the server tiers. Flower
# needs a broker with fanout and is tested on the services tier.
collect_ignore_glob = ([] if CHAOS_TIERS else ["chaos/*"]) + (
    [] if "services" in TIERS else ["ops/test_flower.py"]
)


def pytest_sessionstart(session: pytest.Session) -> None:
    if CHAOS_TIERS:
        check_services_reachable()
    if "rabbitmq" in TIERS:
        rabbitmq.check_reachable()


@pytest.fixture(scope="session")
def llm() -> Iterator[FakeLLM]:
    server = FakeLLM().start()
    yield server
    server.stop()


def build_stack(tier: str, workdir: Path, llm: FakeLLM, **kwargs: object) -> Stack:
    """A stack on a fresh database of the tier; the caller starts and stops it."""
    if tier == "embedded":
        return Stack(tier, workdir, f"sqlite:///{workdir / 'parley.db'}", None, llm, **kwargs)  # type: ignore[arg-type]
    if REDIS_URL is not None:
        flush_redis(REDIS_URL)
        redis_url, redis_server = REDIS_URL, None
    else:
        redis_server = RedisServer(workdir).start()
        redis_url = redis_server.url
    if tier == "rabbitmq":
        vhost = rabbitmq.RabbitVhost().create()
        extra_env = cast(dict[str, str], kwargs.pop("extra_env", None) or {})
        kwargs["extra_env"] = {"CELERY_BROKER_URL": vhost.url, **extra_env}
    s = Stack(tier, workdir, create_postgres_database(), redis_url, llm, **kwargs)  # type: ignore[arg-type]
    s.redis_server = redis_server
    if tier == "rabbitmq":
        s.rabbit_vhost = vhost
    return s


def teardown_stack(stack: Stack, failed: bool) -> None:
    if failed:
        print(stack.logs())
    stack.stop()
    if stack.tier in SERVER_TIERS:
        drop_postgres_database(stack.database_url)
    if stack.redis_server is not None:
        stack.redis_server.stop()
    if stack.rabbit_vhost is not None:
        stack.rabbit_vhost.delete()


@contextlib.contextmanager
def running_stack(
    request: pytest.FixtureRequest, tier: str, workdir: Path, llm: FakeLLM, **kwargs: object
) -> Iterator[Stack]:
    """A started stack, torn down afterwards (its logs printed if anything failed)."""
    s = build_stack(tier, workdir, llm, **kwargs)
    failed_before = request.session.testsfailed
    try:
        s.start()
    except Exception:
        teardown_stack(s, failed=True)
        raise
    try:
        yield s
    finally:
        teardown_stack(s, failed=request.session.testsfailed > failed_before)


@pytest.fixture(scope="session", params=TIERS)
def stack(
    request: pytest.FixtureRequest, llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    tier = str(request.param)
    with running_stack(request, tier, tmp_path_factory.mktemp(f"stack-{tier}"), llm) as s:
        yield s


@pytest.fixture
def api(stack: Stack) -> Iterator[Api]:
    """A client for a fresh user, so tests never see each other's data."""
    client = stack.client()
    yield client
    client.close()


@pytest.fixture
def other(stack: Stack) -> Iterator[Api]:
    """A second user, for isolation checks."""
    client = stack.client()
    yield client
    client.close()
