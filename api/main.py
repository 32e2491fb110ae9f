"""The FastAPI application: routes, middleware, error handlers, and process-wide resources."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api import errors, live, mcp_server, metrics
from api.draining import Draining
from api.metrics.http import MetricsMiddleware
from api.middleware import BodyLimitMiddleware, HeaderLimitMiddleware, RequestContextMiddleware
from api.routes import (
    agents,
    api_keys,
    auth,
    chat,
    chatkit,
    conversations,
    health,
    responses,
    runs,
    tasks,
    webhooks,
)
from api.security import require_exact_scope, require_scope
from shared import telemetry
from shared.auth.jwks import JwksVerifier
from shared.config import Settings, get_settings
from shared.db import Database
from shared.logging import configure_logging
from shared.mcp_servers.config import configured_servers
from shared.mcp_servers.probe import ServerProbe
from shared.ratelimit import build_rate_limiter

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; resources open in the lifespan so importing stays side-effect free."""
    settings = settings or get_settings()
    telemetry.setup(settings, "api")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        # Validated at start-up: a bad MCP_SERVERS_FILE stops the API with the reason.
        app.state.mcp_servers = configured_servers(settings.mcp_servers_file)
        app.state.mcp_probe = ServerProbe(app.state.mcp_servers)
        app.state.db = Database(settings.database_url)
        app.state.limiter = build_rate_limiter(
            settings.redis_url, settings.rate_limit_runs_per_minute
        )
        if settings.jwt_jwks_url:
            app.state.jwks = JwksVerifier(
                settings.jwt_jwks_url,
                settings.jwt_issuer,
                settings.jwt_audience,
                settings.jwt_jwks_refetch_seconds,
            )
        await live.open_live(app, settings, app.state.db)
        app.state.draining = Draining()
        app.state.draining.install()
        if settings.parley_env == "production" and settings.metrics_basic_auth is None:
            log.warning("METRICS_BASIC_AUTH is not set: /metrics answers 403 in production")
        if settings.dev_login:
            log.warning(
                "PARLEY_DEV_LOGIN is on: POST /v1/dev/token gives anyone a token for any user. "
                "Development only; never expose this server."
            )
        log.info(
            "Parley API up (%s mode, model: %s)",
            "embedded" if settings.embedded else "services",
            settings.model_description,
        )
        try:
            async with mcp_server.serving(app):
                yield
        finally:
            await live.close_live(app)
            await app.state.limiter.close()
            await app.state.db.dispose()

    app = FastAPI(
        title="Parley",
        version="1.0.0",
        description="Chat-turn orchestration for AI agents.",
        lifespan=lifespan,
        docs_url="/docs" if settings.docs_enabled else None,
        redoc_url="/redoc" if settings.docs_enabled else None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
    )
    errors.install(app)
    app.state.metrics = metrics.Metrics()
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "Last-Event-ID",
                "X-Request-ID",
            ],
            expose_headers=["Location", "X-Request-ID", "Idempotent-Replayed", "Retry-After"],
        )
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(HeaderLimitMiddleware)
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics.http)
    for router in (health.router, metrics.router):
        app.include_router(router)
    app.include_router(auth.router)
    for router in (auth.me_router, api_keys.router):
        app.include_router(router, responses=errors.AUTHENTICATED)
    # An API key acts only within its scopes; other credentials carry every scope.
    for router, scope in (
        (conversations.router, require_scope("runs")),
        (runs.router, require_scope("runs")),
        (chat.router, require_exact_scope("runs:write")),
        (tasks.router, require_scope("tasks")),
        (agents.router, require_scope("agents")),
        (webhooks.secret_router, require_exact_scope("webhooks:manage")),
        (webhooks.deliveries_router, require_exact_scope("webhooks:manage")),
    ):
        app.include_router(router, responses=errors.AUTHENTICATED, dependencies=[Depends(scope)])
    live.install(app, settings)
    # Not AUTHENTICATED: the OpenAI-compatible routes document their own errors (OpenAI's shape).
    app.include_router(responses.router, dependencies=[Depends(require_scope("runs"))])
    # ChatKit front ends: the protocol (authenticated like /v1) and a page that mounts ChatKit.js.
    app.include_router(
        chatkit.router,
        responses=errors.AUTHENTICATED,
        dependencies=[Depends(require_scope("runs"))],
    )
    app.include_router(chatkit.page_router)
    # Parley's todo tools for external MCP clients, with the same bearer auth (api/mcp_server.py).
    mcp_server.install(app)
    if telemetry.enabled():
        from api.tracing import instrument

        instrument(app)
    return app


def app_factory() -> FastAPI:
    """Entry point for `uvicorn --factory api.main:app_factory`."""
    configure_logging("web")
    return create_app()
