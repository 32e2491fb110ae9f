"""shared.telemetry with the SDK's in-memory exporter: spans nest across the hop from a Celery
thread to the worker's loop, failures and late attributes are recorded, background client calls
are not sampled, and with traces off every helper is a no-op."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

import pytest
import uvloop
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased
from opentelemetry.trace import SpanKind, StatusCode, set_span_in_context

from shared import telemetry
from shared.telemetry.sdk import NoOrphanClients, redact_query


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """Spans of `telemetry.span` land here for the test (the global provider is untouched)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBased(NoOrphanClients()))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    telemetry.use(provider.get_tracer("test"))
    yield memory
    telemetry.use(None)
    provider.shutdown()


def _by_name(memory: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {s.name: s for s in memory.get_finished_spans()}


def _parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def test_a_turn_handed_to_the_worker_loop_stays_in_the_tasks_trace(
    exporter: InMemorySpanExporter,
) -> None:
    """runs.execute hands its turn to the process loop from a Celery thread, where the task's
    span is current; no explicit carrying is needed: run_coroutine_threadsafe schedules through
    call_soon_threadsafe, which runs the coroutine in a copy of the sending thread's context
    (asyncio and uvloop alike), and the turn's own task copies that in turn."""
    loop = uvloop.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def admit() -> None:  # as InFlight.admit: the turn runs in a task of its own
        async def turn() -> None:
            with telemetry.span("turn"), telemetry.span("chat"):
                pass

        await asyncio.get_running_loop().create_task(turn())

    try:
        with telemetry.span("task"):
            asyncio.run_coroutine_threadsafe(admit(), loop).result(timeout=10)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()

    spans = _by_name(exporter)
    task, turn, chat = spans["task"], spans["turn"], spans["chat"]
    assert task.context is not None and turn.context is not None
    assert _parent_id(turn) == task.context.span_id
    assert _parent_id(chat) == turn.context.span_id
    assert {s.context.trace_id for s in spans.values() if s.context} == {task.context.trace_id}


def test_failures_late_attributes_and_events_are_recorded(exporter: InMemorySpanExporter) -> None:
    with contextlib.suppress(RuntimeError), telemetry.span("chat m", {"parley.step": 0}) as span:
        telemetry.annotate(span, {"gen_ai.usage.input_tokens": 12})
        telemetry.event("retry", {"error.type": "llm_unavailable", "parley.attempt": 1})
        raise RuntimeError("the endpoint went away")
    [chat] = exporter.get_finished_spans()
    assert chat.status.status_code == StatusCode.ERROR
    assert dict(chat.attributes or {}) == {"parley.step": 0, "gen_ai.usage.input_tokens": 12}
    assert [e.name for e in chat.events] == ["retry", "exception"]
    assert dict(chat.events[0].attributes or {}) == {
        "error.type": "llm_unavailable",
        "parley.attempt": 1,
    }


def test_client_calls_outside_any_trace_are_not_sampled(exporter: InMemorySpanExporter) -> None:
    provider = TracerProvider(sampler=ParentBased(NoOrphanClients()))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("keeper poll", kind=SpanKind.CLIENT):
        pass  # a background poll: dropped
    with tracer.start_as_current_span("POST /v1/runs", kind=SpanKind.SERVER) as request:
        with tracer.start_as_current_span("INSERT", kind=SpanKind.CLIENT):
            pass  # the request's own SQL: kept
    with tracer.start_as_current_span(
        "INSERT", kind=SpanKind.CLIENT, context=set_span_in_context(request)
    ):
        pass
    assert [s.name for s in exporter.get_finished_spans()] == [
        "INSERT",
        "POST /v1/runs",
        "INSERT",
    ]
    provider.shutdown()


def test_off_every_helper_is_a_no_op() -> None:
    assert not telemetry.enabled()
    assert telemetry.span("a") is telemetry.span("b", {"x": 1})
    with telemetry.span("a") as span:
        assert span is None
        telemetry.annotate(span, {"x": 1})
        telemetry.event("retry", {"x": 1})


def test_query_values_are_redacted_from_span_urls() -> None:
    assert (
        redact_query("http://h:1/hook?key=s3cret&x=1#f")
        == "http://h:1/hook?key=REDACTED&x=REDACTED#f"
    )
    assert redact_query("http://h/v1/ws") == "http://h/v1/ws"
    assert redact_query("token=abc&after=0") == "token=REDACTED&after=REDACTED"
