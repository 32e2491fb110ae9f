"""The FastAPI application: routes, middleware, error handlers, and process-wide resources."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api import errors, live, metrics
from api.middleware import BodyLimitMiddleware, RequestContextMiddleware
from api.routes import chat, conversations, health, responses, runs, tasks, webhooks
from shared.config import Settings, get_settings
from shared.db import Database
from shared.logging import configure_logging
from shared.ratelimit import build_rate_limiter

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; resources open in the lifespan so importing stays side-effect free."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.db = Database(settings.database_url)
        app.state.limiter = build_rate_limiter(
            settings.redis_url, settings.rate_limit_runs_per_minute
        )
        await live.open_live(app, settings, app.state.db)
        log.info(
            "Parley API up (%s mode, model: %s)",
            "embedded" if settings.embedded else "services",
            settings.model_description,
        )
        try:
            yield
        finally:
            await live.close_live(app)
            await app.state.db.dispose()

    app = FastAPI(
        title="Parley",
        version="1.0.0",
        description="Chat-turn orchestration for AI agents.",
        lifespan=lifespan,
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
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(metrics.MetricsMiddleware, metrics=app.state.metrics.http)
    for router in (health.router, metrics.router):
        app.include_router(router)
    for router in (
        conversations.router,
        runs.router,
        tasks.router,
        chat.router,
        webhooks.secret_router,
        webhooks.deliveries_router,
    ):
        app.include_router(router, responses=errors.AUTHENTICATED)
    live.install(app, settings)
    # Not AUTHENTICATED: the OpenAI-compatible routes document their own errors (OpenAI's shape).
    app.include_router(responses.router)
    return app


def app_factory() -> FastAPI:
    """Entry point for `uvicorn --factory api.main:app_factory`."""
    configure_logging("web")
    return create_app()
