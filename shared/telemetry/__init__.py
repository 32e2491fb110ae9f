"""OpenTelemetry traces, only when OTEL_EXPORTER_OTLP_ENDPOINT is set: a turn's API request,
Celery task, model calls and tool calls become one trace. Off, Parley imports neither the
tracing SDK nor an instrumentation, and makes no span: `span` hands back one shared null context.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Literal

from shared.config import Settings

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer
    from sqlalchemy.engine import Engine

Role = Literal["api", "worker"]
Attributes = Mapping[str, str | bool | int | float]

_tracer: Tracer | None = None
_OFF: AbstractContextManager[None] = contextlib.nullcontext()


def enabled() -> bool:
    """Whether this process sends traces."""
    return _tracer is not None


def setup(settings: Settings, role: Role) -> bool:
    """Start sending traces if OTEL_EXPORTER_OTLP_ENDPOINT is set (once per process); False,
    having imported nothing of OpenTelemetry's SDK, if it is not."""
    global _tracer
    if not settings.otel_exporter_otlp_endpoint:
        return False
    if _tracer is None:
        from shared.telemetry import sdk

        _tracer = sdk.install(settings, role)
    return True


def instrument_engine(engine: Engine) -> None:
    """Give this engine's statements client spans (when traces are on)."""
    if _tracer is not None:
        from shared.telemetry import sdk

        sdk.instrument_engine(engine)


def span(name: str, attributes: Attributes | None = None) -> AbstractContextManager[Span | None]:
    """A span around a block, current inside it (an exception marks it failed); None when
    traces are off. Never put message text, tool arguments or secrets in `attributes`."""
    if _tracer is None:
        return _OFF
    return _tracer.start_as_current_span(name, attributes=attributes)


def annotate(span: Span | None, attributes: Attributes) -> None:
    """Add to a span what became known inside it (tokens, outcome)."""
    if span is not None:
        span.set_attributes(attributes)


def event(name: str, attributes: Attributes) -> None:
    """Note something that happened in the current span (a model call's retry)."""
    if _tracer is not None:
        from opentelemetry import trace

        trace.get_current_span().add_event(name, attributes)


def use(tracer: Tracer | None) -> None:
    """Make `span` use this tracer (tests, with the SDK's in-memory exporter); None: off."""
    global _tracer
    _tracer = tracer
