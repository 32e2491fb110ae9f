"""Liveness and readiness probes (docs/api.md section 9)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import DatabaseDep, SettingsDep
from shared.mcp_servers.probe import ServerProbe
from shared.workers import service as workers

router = APIRouter(tags=["operations"])
log = logging.getLogger(__name__)

CHECK_TIMEOUT = 3.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request, database: DatabaseDep, settings: SettingsDep) -> JSONResponse:
    """Ready when the database and the broker answer; names each check (workers, external MCP
    servers) and the model."""
    checks: dict[str, Any] = {
        "database": await _check(_ping_database(database)),
        "broker": await _check(asyncio.to_thread(_ping_broker)),
        "workers": await _workers(database, settings.worker_stale_seconds),
    }
    probe: ServerProbe | None = getattr(request.app.state, "mcp_probe", None)
    if probe is not None and probe.servers:
        # Reported, never fatal: agents using a server that is down get tool errors.
        servers = await probe.states()
        ok = all(state["ok"] for state in servers.values())
        checks["mcp_servers"] = {"ok": ok, "servers": servers}
    # No worker means turns wait in the queue, yet the API itself still serves reads: only an
    # operator who asks for it (READY_REQUIRES_WORKER) takes the API out of rotation for that.
    required = ["database", "broker"] + (["workers"] if settings.ready_requires_worker else [])
    ok = all(checks[name]["ok"] for name in required)
    body = {
        "status": "ok" if ok else "unavailable",
        "checks": checks,
        "mode": "embedded" if settings.embedded else "services",
        "model": {
            "name": settings.model_description,
            "offline": settings.openai_api_key is None,
        },
    }
    return JSONResponse(
        body, status_code=200 if ok else 503, headers={} if ok else {"Retry-After": "5"}
    )


async def _check(probe: Any) -> dict[str, Any]:
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT)
    except Exception as exc:
        log.warning("readiness check failed: %s", type(exc).__name__)
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True}


async def _workers(database: Any, stale_seconds: float) -> dict[str, Any]:
    """Whether a worker process beat within WORKER_STALE_SECONDS (shared.workers)."""
    try:
        async with database.sessions() as session:
            return await asyncio.wait_for(workers.seen(session, stale_seconds), CHECK_TIMEOUT)
    except Exception as exc:
        log.warning("worker heartbeat check failed: %s", type(exc).__name__)
        return {"ok": False, "error": type(exc).__name__}


async def _ping_database(database: Any) -> None:
    async with database.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


def _ping_broker() -> None:
    from shared.celery_app import celery_app

    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT)
