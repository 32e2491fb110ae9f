"""Real processes for tests: the API (uvicorn), a Celery worker and beat, on a real database.

Tiers: `embedded` (SQLite + the SQLite broker), `services` (PostgreSQL + Redis of this
machine) and `rabbitmq` (as services, with this machine's RabbitMQ as the broker). The LLM is
the fake OpenAI-compatible server in fakellm/.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import sqlalchemy as sa

from fakellm import FakeLLM
from shared.cli.argv import beat_argv, web_argv, worker_argv
from tests.rabbitmq import RabbitVhost

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TEST_SECRET = "test-secret-for-parley-tests-0123456789abcdef"
PG_ADMIN_URL = os.environ.get(
    "PARLEY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
# Set to use an existing Redis; by default each stack starts its own redis-server (this
# machine's binary) on a free port, so concurrent test sessions never share a broker.
REDIS_URL = os.environ.get("PARLEY_TEST_REDIS_URL")
STRIPPED_ENV_PREFIXES = ("PARLEY_", "OPENAI_", "DATABASE_URL", "REDIS_URL", "CELERY_", "JWT_")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_token(user: str, *, secret: str = TEST_SECRET, ttl: float = 3600, **extra: Any) -> str:
    now = dt.datetime.now(dt.UTC)
    payload = {"sub": user, "iat": now, "exp": now + dt.timedelta(seconds=ttl), **extra}
    return jwt.encode(payload, secret, algorithm="HS256")


class Api(httpx.Client):
    """An HTTP client for one user of a running stack."""

    def __init__(self, base_url: str, user: str) -> None:
        super().__init__(
            base_url=base_url,
            headers={"Authorization": f"Bearer {make_token(user)}"},
            timeout=90,
        )
        self.user = user

    def submit(self, message: str, **body: Any) -> dict[str, Any]:
        response = self.post("/v1/runs", json={"message": message, **body})
        assert response.status_code == 202, response.text
        result: dict[str, Any] = response.json()
        return result

    def wait(self, run_id: str, seconds: float = 30) -> dict[str, Any]:
        """Long-poll until the run is terminal (fails the test if it is not)."""
        deadline = time.monotonic() + seconds
        while True:
            wait = max(0.0, min(60.0, deadline - time.monotonic()))
            run: dict[str, Any] = self.get(f"/v1/runs/{run_id}", params={"wait": wait}).json()
            if run["status"] in ("completed", "failed", "cancelled"):
                return run
            if run["status"] == "requires_action":  # answered at once: poll gently
                time.sleep(0.2)
            assert time.monotonic() < deadline, f"run {run_id} still {run['status']}"

    def turn(self, message: str, **body: Any) -> dict[str, Any]:
        return self.wait(self.submit(message, **body)["id"])

    def messages(self, conversation_id: str) -> list[dict[str, Any]]:
        page = self.get(f"/v1/conversations/{conversation_id}/messages", params={"limit": 100})
        assert page.status_code == 200, page.text
        data: list[dict[str, Any]] = page.json()["data"]
        return data


@dataclass
class Proc:
    name: str
    command: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    log_offset: int = 0  # where this process's output starts in a reused log file

    def log(self) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as handle:
            handle.seek(self.log_offset)
            return handle.read().decode(errors="replace")


@dataclass
class Stack:
    """A running Parley: API, worker, beat, database, broker and fake LLM."""

    tier: str
    workdir: Path
    database_url: str
    redis_url: str | None
    llm: FakeLLM
    extra_env: dict[str, str] = field(default_factory=dict)
    offline: bool = False
    api_port: int = field(default_factory=free_port)
    procs: dict[str, Proc] = field(default_factory=dict)
    redis_server: RedisServer | None = None
    rabbit_vhost: RabbitVhost | None = None
    # Scale-out: API processes "web", "web2", … (the first on api_port) and worker processes
    # "worker", "worker2", …, all on the same database and broker.
    apis: int = 1
    workers: int = 1
    api_ports: list[int] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def api_urls(self) -> list[str]:
        """Every API process's base URL, the first being `api_url`."""
        return [f"http://127.0.0.1:{port}" for port in self.api_ports or [self.api_port]]

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(STRIPPED_ENV_PREFIXES)}
        env.update(
            DATABASE_URL=self.database_url,
            JWT_SECRET=TEST_SECRET,
            AGENT_MAX_STEPS="4",
            RUN_LEASE_SECONDS="5",
            SWEEP_INTERVAL_SECONDS="1",
            RUN_REDISPATCH_SECONDS="5",
            RUN_TIMEOUT_SECONDS="60",
            RATE_LIMIT_RUNS_PER_MINUTE="0",
            WEBHOOK_ALLOW_PRIVATE="true",
            LOG_LEVEL="INFO",
            PARLEY_DEV_LOGIN="true",  # as under `parley dev`: the chat page's demo sign-in
            PYTHONUNBUFFERED="1",
        )
        if not self.offline:
            env.update(OPENAI_API_KEY="test-key", OPENAI_BASE_URL=self.llm.base_url)
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        env.update(self.extra_env)
        return env

    def client(self, user: str | None = None, api: int = 0) -> Api:
        """A client of API process number `api` (0: the first) for `user` (default: a new one)."""
        return Api(self.api_urls[api], user or f"user-{uuid.uuid4().hex[:10]}")

    # processes -----------------------------------------------------------------------------
    def start(self) -> Stack:
        """Release, then start web, worker and beat at the same instant (as honcho does)."""
        self.migrate()
        self.api_ports = [self.api_port] + [free_port() for _ in range(self.apis - 1)]
        for i, port in enumerate(self.api_ports):
            # Open event streams would otherwise hold a SIGTERM'd server up for the default 10 s.
            argv = web_argv("127.0.0.1", port, graceful_shutdown_seconds=3, log_level="warning")
            self.start_proc(_nth("web", i), argv)
        self.start_proc("beat", beat_argv(self.workdir / "beat-schedule"))
        # Launched at once, then waited for (bench/ overrides start_worker with this signature).
        for i in range(self.workers):
            self.start_worker(_nth("worker", i))
        for i, url in enumerate(self.api_urls):
            self._wait_http_ready(url, _nth("web", i))
        return self

    def migrate(self) -> None:
        """The release step: migrations, then the embedded broker's tables and queues."""
        subprocess.run(
            [str(BIN / "parley"), "release"],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
        )

    def start_worker(self, name: str = "worker", concurrency: int = 50) -> Proc:
        """One Celery worker process with the production command line and a unique node name."""
        proc = self.start_proc(name, worker_argv(f"{name}-{uuid.uuid4().hex[:6]}@%h", concurrency))
        self._wait_log(proc, "ready.")
        return proc

    def start_proc(self, name: str, command: list[str], env: dict[str, str] | None = None) -> Proc:
        """Start a process of this stack; `env` adds to (or overrides) the stack's environment."""
        log_path = self.workdir / f"{name}.log"
        offset = log_path.stat().st_size if log_path.exists() else 0
        proc = Proc(name, command, log_path, log_offset=offset)
        handle = log_path.open("ab")
        proc.popen = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**self.env, **(env or {})},
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[name] = proc
        return proc

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        assert proc.popen is not None
        try:
            os.killpg(proc.popen.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.popen.pid, signal.SIGKILL)
            proc.popen.wait(timeout=10)

    def stop(self) -> None:
        for name in list(self.procs):
            self.kill(name, signal.SIGTERM)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.log()[-4000:]}" for p in self.procs.values())

    def _wait_log(self, proc: Proc, marker: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while marker not in proc.log():
            assert proc.popen is not None
            if proc.popen.poll() is not None:
                raise RuntimeError(f"{proc.name} exited:\n{proc.log()[-4000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{proc.name} not ready:\n{proc.log()[-4000:]}")
            time.sleep(0.1)

    def _wait_http_ready(
        self, url: str | None = None, name: str = "web", timeout: float = 60
    ) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{url or self.api_url}/readyz", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            web = self.procs[name].popen
            if web is not None and web.poll() is not None:
                raise RuntimeError(f"{name} exited:\n{self.procs[name].log()[-4000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"API not ready:\n{self.logs()}")
            time.sleep(0.1)

    # direct database access for assertions ------------------------------------------------
    def sql(self, query: str, **params: Any) -> list[Any]:
        from shared.db import sync_url

        engine = sa.create_engine(sync_url(self.database_url), poolclass=sa.pool.NullPool)
        try:
            with engine.begin() as conn:
                result = conn.execute(sa.text(query), params)
                return list(result) if result.returns_rows else []
        finally:
            engine.dispose()


def _nth(name: str, index: int) -> str:
    """Process names of a kind: `name`, then `name2`, `name3`, …"""
    return name if index == 0 else f"{name}{index + 1}"


def create_postgres_database() -> str:
    """A fresh, empty PostgreSQL database; returns its URL."""
    name = f"parley_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(
        _psycopg(PG_ADMIN_URL), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return str(sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(False))


def drop_postgres_database(url: str) -> None:
    name = sa.engine.make_url(url).database
    admin = sa.create_engine(
        _psycopg(PG_ADMIN_URL), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


class RedisServer:
    """A private redis-server on a free port (no persistence), restartable for chaos tests."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        import redis

        self.popen = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url, socket_connect_timeout=1).ping()
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            self.popen.wait(timeout=10)


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    client.flushdb()
    client.close()


def _psycopg(url: str) -> str:
    return str(sa.engine.make_url(url).set(drivername="postgresql+psycopg").render_as_string(False))


def check_services_reachable() -> None:
    """The services tier was asked for: its PostgreSQL and Redis must answer (fail, not skip)."""
    import shutil

    import redis

    engine = sa.create_engine(_psycopg(PG_ADMIN_URL), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        raise RuntimeError(
            f"services tier: PostgreSQL at {PG_ADMIN_URL} unreachable: {exc}"
        ) from exc
    finally:
        engine.dispose()
    if REDIS_URL is None:
        if shutil.which("redis-server") is None:
            raise RuntimeError("services tier: no redis-server binary and no PARLEY_TEST_REDIS_URL")
        return
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except Exception as exc:
        raise RuntimeError(f"services tier: Redis at {REDIS_URL} unreachable: {exc}") from exc
