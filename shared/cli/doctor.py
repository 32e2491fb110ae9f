"""`parley doctor`: checks what a deployment depends on and says what to fix, one line each."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import sqlalchemy as sa
import typer

from shared.config import Settings, get_settings

ROOT = Path(__file__).resolve().parents[2]  # where alembic.ini is, as for `parley release`
MAX_SKEW_SECONDS = 2.0  # leases, heartbeats and webhook timestamps compare clocks


def _hide_password(url: str) -> str:
    return re.sub(r"://([^:/@]*):[^@]*@", r"://\1:***@", url)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _database(settings: Settings) -> Check:
    from shared.db import sync_url

    shown = _hide_password(settings.database_url)
    engine = sa.create_engine(sync_url(settings.database_url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        return Check(
            "database",
            False,
            f"{shown}: {type(exc).__name__}",
            "check DATABASE_URL and that the database server is running and reachable",
        )
    finally:
        engine.dispose()
    return Check("database", True, shown)


def _migrations(settings: Settings) -> Check:
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from shared.db import sync_url

    heads = set(ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini"))).get_heads())
    engine = sa.create_engine(sync_url(settings.database_url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    except Exception as exc:
        return Check("migrations", False, type(exc).__name__, "fix the database first")
    finally:
        engine.dispose()
    if current == heads:
        return Check("migrations", True, f"at head ({', '.join(sorted(heads))})")
    shown = ", ".join(sorted(current)) or "none applied"
    return Check(
        "migrations",
        False,
        f"{shown}; head is {', '.join(sorted(heads))}",
        "run `parley release` (alembic upgrade head)",
    )


def _broker(settings: Settings) -> Check:
    from shared.celery_app import celery_app

    shown = _hide_password(settings.broker_url)
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
    except Exception as exc:
        return Check(
            "broker",
            False,
            f"{shown}: {type(exc).__name__}",
            "check REDIS_URL (or CELERY_BROKER_URL) and that Redis is running",
        )
    return Check("broker", True, shown)


def _llm(settings: Settings) -> Check:
    if settings.openai_api_key is None:
        return Check(
            "llm",
            True,
            "offline rule-based model (no LLM)",
            "set OPENAI_API_KEY to use a real model",
        )
    base = (settings.openai_base_url or "https://api.openai.com/v1").rstrip("/")
    key = settings.openai_api_key.get_secret_value()
    try:
        response = httpx.get(
            f"{base}/models", headers={"Authorization": f"Bearer {key}"}, timeout=10
        )
    except httpx.HTTPError as exc:
        return Check(
            "llm",
            False,
            f"{base}: {type(exc).__name__}",
            "check OPENAI_BASE_URL and the network path to it",
        )
    if response.status_code in (401, 403):
        return Check(
            "llm",
            False,
            f"{base}: the key is refused ({response.status_code})",
            "set a valid OPENAI_API_KEY",
        )
    if response.status_code >= 400:
        return Check(
            "llm",
            False,
            f"{base}: HTTP {response.status_code}",
            "check OPENAI_BASE_URL points at an OpenAI-compatible API",
        )
    return Check("llm", True, f"{base} answers; model {settings.openai_model}")


def _clock(settings: Settings) -> Check:
    from shared.db import sync_url

    engine = sa.create_engine(sync_url(settings.database_url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            if engine.dialect.name != "postgresql":
                return Check("clock", True, "the database shares this machine's clock")
            before = time.time()
            server = conn.execute(sa.text("SELECT now()")).scalar_one()
            local = (before + time.time()) / 2
    except Exception as exc:
        return Check("clock", False, type(exc).__name__, "fix the database first")
    finally:
        engine.dispose()
    skew = server.timestamp() - local
    detail = f"database clock {skew:+.2f} s from this machine's"
    if abs(skew) > MAX_SKEW_SECONDS:
        return Check(
            "clock",
            False,
            detail,
            "synchronise the clocks (NTP): leases, heartbeats and webhook timestamps compare them",
        )
    return Check("clock", True, detail)


def _workers(settings: Settings) -> Check:
    from shared.db import Database
    from shared.workers import service

    async def seen() -> dict[str, object]:
        database = Database(settings.database_url)
        try:
            async with database.sessions() as session:
                return await service.seen(session, settings.worker_stale_seconds)
        finally:
            await database.dispose()

    try:
        found = asyncio.run(seen())
    except Exception as exc:
        return Check("workers", False, type(exc).__name__, "fix the database and migrations first")
    if not found["ok"]:
        last = found["last_seen_at"] or "never"
        return Check(
            "workers",
            False,
            f"none seen in {settings.worker_stale_seconds:g} s (last: {last}); queued turns wait",
            "start `parley worker`",
        )
    return Check(
        "workers", True, f"{found['live']} live, {found['turns_in_flight']} turn(s) in flight"
    )


CHECKS: tuple[Callable[[Settings], Check], ...] = (
    _database,
    _migrations,
    _broker,
    _llm,
    _clock,
    _workers,
)


def doctor() -> None:
    """Check the database, migrations, broker, LLM endpoint, clock skew and workers; say what
    to fix. Exits 1 when any check fails."""
    settings = get_settings()
    failed = False
    typer.echo(
        f"Parley doctor ({settings.parley_env}, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC)"
    )
    for check in CHECKS:
        result = check(settings)
        failed = failed or not result.ok
        typer.echo(f"{'ok  ' if result.ok else 'FAIL'}  {result.name:<10} {result.detail}")
        if result.fix and not result.ok:
            typer.echo(f"      {'':<10} fix: {result.fix}")
    if failed:
        raise typer.Exit(1)
