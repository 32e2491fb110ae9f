"""The API's server spans (the official FastAPI instrumentation), loaded only with traces on."""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

# Probes and scrapes every few seconds would bury the traces worth reading.
EXCLUDED_URLS = "/healthz,/readyz,/metrics"


def instrument(app: FastAPI) -> None:
    """Wrap the app in the ASGI tracing middleware, outermost: a request's span covers every
    other middleware, and FastAPI's own telemetry stands aside when it sees it."""
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=trace.get_tracer_provider(),
        excluded_urls=EXCLUDED_URLS,
        # A span per ASGI message of a streamed answer would drown the request's own.
        exclude_spans=["receive", "send"],
    )
