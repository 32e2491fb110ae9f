"""The ASGI middleware on its own: a crash still answers JSON with our headers, and is counted."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from api.metrics.http import HttpMetrics, MetricsMiddleware
from api.middleware import RequestContextMiddleware


async def _boom(request: Request) -> PlainTextResponse:
    raise RuntimeError("bug")


async def _ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def client(registry: CollectorRegistry) -> httpx.AsyncClient:
    app = Starlette(routes=[Route("/boom/{item_id}", _boom), Route("/ok", _ok)])
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=HttpMetrics(registry))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def _get(client: httpx.AsyncClient, path: str, **headers: str) -> httpx.Response:
    async with client:
        return await client.get(path, headers=headers)


def test_an_unhandled_error_is_a_json_500_with_request_id(
    client: httpx.AsyncClient, registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    response = asyncio.run(_get(client, "/boom/42", **{"X-Request-ID": "trace-me"}))
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error"}
    assert response.headers["X-Request-ID"] == "trace-me"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "trace-me" in caplog.text and "bug" in caplog.text
    labels = {"method": "GET", "route": "/boom/{item_id}", "status": "500"}
    assert registry.get_sample_value("parley_http_requests_total", labels) == 1.0


def test_requests_are_labelled_by_template(
    client: httpx.AsyncClient, registry: CollectorRegistry
) -> None:
    async def run() -> None:
        async with client:
            await client.get("/ok")
            await client.get("/ok")
            await client.get("/nothing/here")

    asyncio.run(run())
    ok = {"method": "GET", "route": "/ok", "status": "200"}
    assert registry.get_sample_value("parley_http_requests_total", ok) == 2.0
    missing = {"method": "GET", "route": "unmatched", "status": "404"}
    assert registry.get_sample_value("parley_http_requests_total", missing) == 1.0
    count = registry.get_sample_value(
        "parley_http_request_duration_seconds_count", {"method": "GET", "route": "/ok"}
    )
    assert count == 2.0
