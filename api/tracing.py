"""The API's server spans (the official FastAPI instrumentation), loaded only with traces on."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.trace import Span

from shared.telemetry.sdk import redact_query

# Probes and scrapes every few seconds would bury the traces worth reading.
EXCLUDED_URLS = "/healthz,/readyz,/metrics"


def instrument(app: FastAPI) -> None:
    """Wrap the app in the ASGI tracing middleware, outermost: a request's span covers every
    other middleware, and FastAPI's own telemetry stands aside when it sees it."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        server_request_hook=_redact,
        tracer_provider=trace.get_tracer_provider(),
        excluded_urls=EXCLUDED_URLS,
        # A span per ASGI message of a streamed answer would drown the request's own.
        exclude_spans=["receive", "send"],
    )


def _redact(span: Span, scope: dict[str, Any]) -> None:
    """The instrumentation records the query string (`http.url`, `url.query`) and redacts only
    a few cloud signatures; `/v1/ws?token=…` carries a bearer token there. Keep names only."""
    if not span.is_recording() or not scope.get("query_string"):
        return
    attributes = getattr(span, "attributes", None) or {}
    for key in ("http.url", "url.full", "url.query"):
        value = attributes.get(key)
        if isinstance(value, str):
            span.set_attribute(key, redact_query(value))
