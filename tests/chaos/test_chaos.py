"""Chaos: kill workers, restart Redis or RabbitMQ, block PostgreSQL mid-load; nothing is lost
or doubled. Every scenario runs on each server tier (services: Redis is broker and event bus;
rabbitmq: RabbitMQ is the broker, Redis the event bus).

Each scenario submits turns that each add a uniquely named task, spread over a few
conversations, breaks something while they run, then checks every run ended, every completed
run's task exists exactly once, and every conversation's messages alternate user/assistant.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from fakellm import FakeLLM
from tests import rabbitmq
from tests.conftest import CHAOS_TIERS, TIERS, running_stack
from tests.stack import PG_ADMIN_URL, Api, Stack, _psycopg

TERMINAL = {"completed", "failed", "cancelled"}
CONVERSATIONS = 10


@pytest.fixture(params=CHAOS_TIERS)
def chaos_stack(request: pytest.FixtureRequest, llm: FakeLLM, tmp_path: Path) -> Iterator[Stack]:
    # The rate limiter stays on (generously) so every scenario also exercises its Redis
    # fallback to the database.
    env = {"RUN_MAX_ATTEMPTS": "5", "RATE_LIMIT_RUNS_PER_MINUTE": "600"}
    with running_stack(request, str(request.param), tmp_path, llm, extra_env=env) as s:
        yield s


def _stop_broker(stack: Stack) -> None:
    if stack.tier == "rabbitmq":
        rabbitmq.stop_broker()
    else:
        assert stack.redis_server is not None
        stack.redis_server.stop()


def _start_broker(stack: Stack) -> None:
    if stack.tier == "rabbitmq":
        rabbitmq.start_broker()
    else:
        assert stack.redis_server is not None
        stack.redis_server.start()


def _submit_turns(api: Api, count: int, tag: str) -> list[dict[str, Any]]:
    """`count` turns over CONVERSATIONS conversations; each adds task '<tag> <i>'."""
    runs: list[dict[str, Any]] = []
    conversations: list[str] = []
    for i in range(count):
        body: dict[str, Any] = {"message": f"Add a task to {tag} {i} [[latency=0.2]]"}
        if len(conversations) == CONVERSATIONS:
            body["conversation_id"] = conversations[i % CONVERSATIONS]
        response = _post_until_accepted(api, body)
        runs.append(response)
        if len(conversations) < CONVERSATIONS:
            conversations.append(response["conversation_id"])
    return runs


def _post_until_accepted(api: Api, body: dict[str, Any], seconds: float = 60) -> dict[str, Any]:
    """Submit, retrying only on 503 (a dependency is down); anything else is a failure."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            response = api.post("/v1/runs", json=body)
        except httpx.HTTPError:
            response = None
        if response is not None and response.status_code == 202:
            result: dict[str, Any] = response.json()
            return result
        assert response is None or response.status_code == 503, response.text
        assert time.monotonic() < deadline, "submit never accepted"
        time.sleep(0.2)


def _settle(api: Api, runs: list[dict[str, Any]], seconds: float = 120) -> list[dict[str, Any]]:
    deadline = time.monotonic() + seconds
    final: list[dict[str, Any]] = []
    for run in runs:
        while True:
            try:
                current = api.get(f"/v1/runs/{run['id']}", params={"wait": 5})
            except httpx.HTTPError:
                current = None
            if current is not None and current.status_code == 200:
                if current.json()["status"] in TERMINAL:
                    final.append(current.json())
                    break
            else:
                assert current is None or current.status_code == 503, current.text
            assert time.monotonic() < deadline, f"run {run['id']} never ended"
    return final


def _check(api: Api, final: list[dict[str, Any]], tag: str, label: str) -> None:
    statuses = Counter(r["status"] for r in final)
    titles = Counter(t["title"] for t in api.get("/v1/tasks").json()["data"])
    duplicates = sum(n - 1 for n in titles.values() if n > 1)
    lost = sum(
        1 for i, r in enumerate(final) if r["status"] == "completed" and titles[f"{tag} {i}"] != 1
    )
    print(
        f"\n[chaos:{label}] submitted={len(final)} completed={statuses['completed']} "
        f"failed={statuses['failed']} cancelled={statuses['cancelled']} "
        f"duplicates={duplicates} lost={lost}"
    )
    assert duplicates == 0
    assert lost == 0
    assert statuses["completed"] >= len(final) * 0.9, statuses
    for conversation_id in {r["conversation_id"] for r in final}:
        roles = [m["role"] for m in api.messages(conversation_id)]
        assert roles == ["user", "assistant"] * (len(roles) // 2), roles


def _in_background(
    action: Callable[[threading.Event], None],
) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=action, args=(stop,), daemon=True)
    thread.start()
    return thread, stop


def test_sigkill_workers_at_random_points(chaos_stack: Stack) -> None:
    rng = random.Random(20261123)
    kills = 0

    def killer(stop: threading.Event) -> None:
        nonlocal kills
        while not stop.is_set() or kills < 3:
            time.sleep(rng.uniform(0.5, 2.0))
            chaos_stack.kill("worker")
            kills += 1
            chaos_stack.start_worker()

    with chaos_stack.client() as api:
        thread, stop = _in_background(killer)
        runs = _submit_turns(api, 50, "chaos")
        time.sleep(2)
        stop.set()
        thread.join(timeout=60)
        final = _settle(api, runs)
        print(f"\n[chaos:sigkill] worker kills={kills}")
        assert kills >= 3
        _check(api, final, "chaos", "sigkill")


def test_redis_restart_mid_load(chaos_stack: Stack) -> None:
    """Redis is the broker and the event bus on services, the event bus alone on rabbitmq."""
    assert chaos_stack.redis_server is not None
    with chaos_stack.client() as api:
        runs = _submit_turns(api, 25, "redis")
        chaos_stack.redis_server.stop()
        time.sleep(2)
        more = [
            _post_until_accepted(api, {"message": f"Add a task to redis {25 + i}"})
            for i in range(5)
        ]
        chaos_stack.redis_server.start()
        final = _settle(api, runs + more)
        _check(api, final, "redis", "redis-restart")


def test_postgres_outage_mid_load(chaos_stack: Stack) -> None:
    name = sa.engine.make_url(chaos_stack.database_url).database
    admin = sa.create_engine(_psycopg(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    with chaos_stack.client() as api:
        runs = _submit_turns(api, 25, "pg")
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :d AND pid <> pg_backend_pid()"
                ),
                {"d": name},
            )
        try:
            time.sleep(1)
            during = api.post("/v1/runs", json={"message": "during the outage"})
            assert during.status_code == 503, during.text
            assert during.headers["Retry-After"]
            assert api.get("/v1/tasks").status_code == 503
            time.sleep(2)
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            admin.dispose()
        final = _settle(api, runs)
        _check(api, final, "pg", "postgres-outage")


def test_broker_down_submit_is_accepted_and_runs_when_it_returns(
    chaos_stack: Stack,
) -> None:
    stack = chaos_stack
    with stack.client() as api:
        _stop_broker(stack)
        try:
            started = time.monotonic()
            accepted = api.post("/v1/runs", json={"message": "Add a task to survive outages"})
            took = time.monotonic() - started
            assert accepted.status_code == 202, accepted.text
            ready = api.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["broker"]["ok"] is False
        finally:
            _start_broker(stack)
        print(f"\n[chaos:broker-down] submit answered 202 in {took:.2f} s")
        run = api.wait(accepted.json()["id"], 120)
        assert run["status"] == "completed"
        assert [t["title"] for t in api.get("/v1/tasks").json()["data"]] == ["survive outages"]


# Defined only where it can run: a tier that was not asked for is absent, not skipped.
if "rabbitmq" in TIERS:

    @pytest.mark.parametrize("chaos_stack", ["rabbitmq"], indirect=True)
    def test_rabbitmq_restart_mid_load(chaos_stack: Stack) -> None:
        """The broker restarts while turns run and more arrive: nothing is lost or doubled."""
        with chaos_stack.client() as api:
            runs = _submit_turns(api, 25, "rabbit")
            rabbitmq.stop_broker()
            try:
                time.sleep(2)
                more = [
                    _post_until_accepted(api, {"message": f"Add a task to rabbit {25 + i}"})
                    for i in range(5)
                ]
            finally:
                rabbitmq.start_broker()
            final = _settle(api, runs + more)
            _check(api, final, "rabbit", "rabbitmq-restart")
