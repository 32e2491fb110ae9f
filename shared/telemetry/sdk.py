"""The OpenTelemetry SDK, exporter and instrumentations: imported only once traces are on."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.celery import CeleryInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import Link, SpanKind, Tracer
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes
from sqlalchemy.engine import Engine

from shared.config import Settings

log = logging.getLogger(__name__)


class NoOrphanClients(Sampler):
    """Samples every root span except a client call made outside any request, task or turn:
    the lease keeper's and the event hub's polls (several a second) would each be a trace."""

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        if kind == SpanKind.CLIENT:
            return SamplingResult(Decision.DROP)
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)

    def get_description(self) -> str:
        return "NoOrphanClients"


def install(settings: Settings, role: str) -> Tracer:
    """Set the global tracer provider (batched OTLP/HTTP export) and instrument Celery and httpx.

    The SDK reads its other OTEL_* variables itself (OTEL_EXPORTER_OTLP_HEADERS for a
    collector's credentials, OTEL_BSP_SCHEDULE_DELAY, …).
    """
    endpoint = settings.otel_exporter_otlp_endpoint
    assert endpoint
    name = settings.otel_service_name or f"parley-{role}"
    provider = TracerProvider(
        resource=Resource.create({"service.name": name}), sampler=ParentBased(NoOrphanClients())
    )
    # OTEL_EXPORTER_OTLP_ENDPOINT is a base URL: traces go to its /v1/traces (the OTLP spec).
    exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    # Publishing (send_task fires before_task_publish too) injects the trace context into the
    # task's headers; the worker's task_prerun extracts it and makes the task span its child.
    CeleryInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    # The webhook sender and the JWKS fetcher speak httpx (the openai SDK speaks httpx2, which
    # has no instrumentation: model calls get Parley's own spans).
    HTTPXClientInstrumentor().instrument(
        tracer_provider=provider,
        request_hook=_redact_request,
        async_request_hook=_redact_async_request,
    )
    log.info("traces on: OTLP/HTTP to %s as service %s", _origin(endpoint), name)
    return provider.get_tracer("parley")


def instrument_engine(engine: Engine) -> None:
    """Per engine: shared.db binds create_async_engine before any setup runs, so the
    instrumentor's patching of that function would miss every engine Parley makes."""
    scope = "opentelemetry.instrumentation.sqlalchemy"
    # The pool-usage gauge the instrumentor would make (exported only if a meter provider is set).
    usage = metrics.get_meter(scope).create_up_down_counter(
        "db.client.connections.usage", unit="connections"
    )
    EngineTracer(trace.get_tracer(scope), engine, usage)  # type: ignore[no-untyped-call]


def redact_query(url: str) -> str:
    """`url` (or a bare query string) with every query value replaced: webhook URLs and
    `?token=` may carry secrets, and spans must not."""
    if "?" not in url and "://" not in url:
        return urlencode([(k, "REDACTED") for k, _ in parse_qsl(url, keep_blank_values=True)])
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = urlencode([(k, "REDACTED") for k, _ in parse_qsl(parts.query, keep_blank_values=True)])
    return urlunsplit(parts._replace(query=query))


def _redact_request(span: trace.Span, request: Any) -> None:
    if not span.is_recording():
        return
    attributes = getattr(span, "attributes", None) or {}
    for key in ("http.url", "url.full"):
        value = attributes.get(key)
        if isinstance(value, str):
            span.set_attribute(key, redact_query(value))


async def _redact_async_request(span: trace.Span, request: Any) -> None:
    _redact_request(span, request)


def _origin(url: str) -> str:
    """Scheme, host and port only: a collector URL may carry credentials."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
