"""Live turns wired into the app: the event bus and hub on app state, and their routes."""

from __future__ import annotations

from fastapi import Depends, FastAPI

from api.errors import AUTHENTICATED
from api.routes import dev, events, page, ws
from api.security import require_scope
from shared.config import Settings
from shared.db import Database
from shared.events.bus import EventBus
from shared.events.hub import EventHub
from shared.events.store import attach_bus


def install(app: FastAPI, settings: Settings) -> None:
    """Add the event stream, the WebSocket, the chat page and (PARLEY_DEV_LOGIN) the demo token."""
    app.include_router(
        events.router, responses=AUTHENTICATED, dependencies=[Depends(require_scope("runs"))]
    )
    app.include_router(ws.router)
    page.install(app, demo=settings.dev_login, registration=settings.registration_open)
    if settings.dev_login:
        app.include_router(dev.router)


async def open_live(app: FastAPI, settings: Settings, database: Database) -> None:
    """Publish what this process commits; follow what every process commits."""
    bus = EventBus(settings.redis_url)
    bus.start()
    attach_bus(database.sessions, bus)
    hub = EventHub(database, settings.redis_url)
    hub.start()
    app.state.event_bus, app.state.events = bus, hub


async def close_live(app: FastAPI) -> None:
    await app.state.events.stop()
    await app.state.event_bus.close()
