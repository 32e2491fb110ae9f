"""OTEL_EXPORTER_OTLP_ENDPOINT set: one turn is one trace across real processes, from the API
request through the Celery task to the turn's model and tool calls, sent over OTLP/HTTP to a
receiver the test runs; and with it unset, no process loads the tracing SDK."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fakellm import FakeLLM
from tests.conftest import TIERS, running_stack
from tests.ops.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.stack import ROOT, Stack, free_port, make_token
from tests.worker.support import tag

SECRET = uuid.uuid4().hex


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    server = OtlpReceiver().start()
    yield server
    server.stop()


@pytest.fixture(params=TIERS)
def traced_stack(
    request: pytest.FixtureRequest, llm: FakeLLM, tmp_path: Path, receiver: OtlpReceiver
) -> Iterator[Stack]:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # export every 100 ms, not every 5 s
    }
    with running_stack(request, str(request.param), tmp_path, llm, extra_env=env) as s:
        yield s


def _turn_spans(receiver: OtlpReceiver, run_id: str, timeout: float = 30) -> list[ReceivedSpan]:
    """The spans of the trace the run's turn belongs to, once its turn span and every model and
    tool call span have arrived (they are exported in batches, a little after the run ends)."""
    deadline = time.monotonic() + timeout
    while True:
        spans = receiver.snapshot()
        turns = [s for s in spans if s.attributes.get("parley.run_id") == run_id]
        if turns:
            trace = [s for s in spans if s.trace_id == turns[0].trace_id]
            chats = [s for s in trace if s.name.startswith("chat ")]
            tools = [s for s in trace if s.name.startswith("execute_tool ")]
            api = [s for s in trace if s.service == "parley-api" and s.kind == "server"]
            if len(chats) >= 2 and tools and api:
                return trace
        assert time.monotonic() < deadline, f"no whole trace for {run_id}: {spans}"
        time.sleep(0.2)


def _wait_spans(receiver: OtlpReceiver, url_part: str, timeout: float = 30) -> list[ReceivedSpan]:
    """The HTTP spans whose URL or path mentions `url_part`, once there are any."""
    deadline = time.monotonic() + timeout
    while True:
        found = [
            s
            for s in receiver.snapshot()
            if any(url_part in str(s.attributes.get(k, "")) for k in ("http.url", "http.target"))
        ]
        if found:
            return found
        assert time.monotonic() < deadline, f"no span for {url_part}"
        time.sleep(0.2)


class Trace:
    """One trace's spans, by id."""

    def __init__(self, spans: list[ReceivedSpan]) -> None:
        self.spans = spans
        self.by_id = {s.span_id: s for s in spans}

    def named(self, prefix: str) -> list[ReceivedSpan]:
        return [s for s in self.spans if s.name.startswith(prefix)]

    def parent(self, span: ReceivedSpan) -> ReceivedSpan:
        assert span.parent_id in self.by_id, f"{span.name}'s parent is not in the trace"
        return self.by_id[span.parent_id]

    def ancestors(self, span: ReceivedSpan) -> list[ReceivedSpan]:
        chain = []
        while span.parent_id in self.by_id:
            span = self.by_id[span.parent_id]
            chain.append(span)
        return chain


def test_a_turn_is_one_trace_from_request_to_tool_call(
    traced_stack: Stack, receiver: OtlpReceiver
) -> None:
    title = f"trace the turn {tag()}"
    api = traced_stack.client()
    # The endpoint fails the first call once (503): retried within the same model call span.
    # Its webhook URL has a secret in its query; nothing listens there (the attempt still runs).
    hook = f"http://127.0.0.1:{free_port()}/hook?key=hook-{SECRET}"
    run = api.turn(f"Add a task to {title} [[error_times=1,503]]", webhook_url=hook)
    # A bearer token in a query string (the WebSocket's way in) must not reach a span either.
    api.get("/v1/ws", params={"token": f"ws-{SECRET}"})
    api.close()
    assert run["status"] == "completed", run
    [call] = run["output"]["tool_calls"]
    assert call["tool_name"] == "add_task"

    trace = Trace(_turn_spans(receiver, run["id"]))
    turn = _check_request_to_turn(trace, run)
    _check_model_and_tool_calls(trace, turn, run)

    # Never the conversation's text, the tool's arguments or result, nor a secret of a URL.
    deliveries = [s for s in _wait_spans(receiver, "hook") if s.service == "parley-worker"]
    assert deliveries and all("REDACTED" in s.attributes["http.url"] for s in deliveries)
    assert _wait_spans(receiver, "/v1/ws")
    everything = json.dumps([s.attributes for s in receiver.snapshot()])
    for private in (title, run["output"]["response"], SECRET, make_token(api.user)):
        assert private not in everything
    assert set(receiver.paths) == {"/v1/traces"}


def _check_request_to_turn(trace: Trace, run: dict[str, Any]) -> ReceivedSpan:
    """API request → publish → Celery task → turn, each the child of the one before."""
    # API: the request's server span is the root; it published the task after its commit.
    [request] = [s for s in trace.spans if s.service == "parley-api" and s.kind == "server"]
    assert request.parent_id == ""
    assert request.name == "POST /v1/runs"
    [publish] = trace.named("apply_async/runs.execute")
    assert publish.service == "parley-api" and publish.kind == "producer"
    assert trace.parent(publish) == request
    # Worker: the task's span continues it (the context travelled in the task's headers) …
    [task] = trace.named("run/runs.execute")
    assert task.service == "parley-worker" and task.kind == "consumer"
    assert trace.parent(task) == publish
    # … and the turn, run on the worker's own loop, is the task's child.
    [turn] = trace.named("parley.turn")
    assert trace.parent(turn) == task
    assert turn.attributes["parley.conversation_id"] == run["conversation_id"]
    assert turn.attributes["parley.attempt"] == 1
    assert turn.attributes["parley.turn.outcome"] == "completed"
    # SQL is traced too, in both processes: the API's insert of the run among them.
    sql = [s for s in trace.spans if s.kind == "client"]
    assert {s.service for s in sql} == {"parley-api", "parley-worker"}, sql
    assert any(trace.parent(s) == request for s in sql)
    return turn


def _check_model_and_tool_calls(trace: Trace, turn: ReceivedSpan, run: dict[str, Any]) -> None:
    """Two model calls (the tool call, then the answer) and the tool call between them."""
    chats = sorted(trace.named("chat "), key=lambda s: s.attributes["parley.step"])
    assert [s.attributes["parley.step"] for s in chats] == [0, 1]
    assert all(trace.parent(s) == turn for s in chats)
    assert [s.attributes["parley.tool_calls"] for s in chats] == [1, 0]
    usage = run["usage"]
    assert sum(s.attributes["gen_ai.usage.input_tokens"] for s in chats) == usage["prompt_tokens"]
    assert (
        sum(s.attributes["gen_ai.usage.output_tokens"] for s in chats) == usage["completion_tokens"]
    )
    assert all(s.attributes["gen_ai.request.model"] == "gpt-4o-mini" for s in chats)
    assert chats[0].events == (("retry", {"error.type": "llm_unavailable", "parley.attempt": 1}),)
    assert chats[1].events == ()

    [tool] = trace.named("execute_tool ")
    assert tool.name == "execute_tool add_task"
    assert trace.parent(tool) == turn
    assert tool.attributes["gen_ai.tool.name"] == "add_task"
    assert tool.attributes["parley.tool.outcome"] == "ok"
    # The tool's own SQL sits under it, inside the MCP server's span for the call (MCP's SDK
    # carries the trace context in the request's `_meta`).
    sql = [s for s in trace.spans if s.kind == "client"]
    assert any(tool in trace.ancestors(s) for s in sql)


NO_COST = """
import json, sys
import api.main, worker.app, worker.tasks.runs, worker.runs.inflight
import worker.agent.loop, worker.agent.openai_model
from shared import telemetry
from shared.config import get_settings
from opentelemetry import trace

api.main.create_app()
telemetry.setup(get_settings(), "worker")  # what the worker's start-up does
loaded = sorted(
    m for m in sys.modules
    if m.startswith(("opentelemetry.sdk.trace", "opentelemetry.exporter",
                     "opentelemetry.instrumentation", "shared.telemetry.sdk", "api.tracing"))
)
print(json.dumps({
    "loaded": loaded,
    "enabled": telemetry.enabled(),
    "null_span": telemetry.span("x") is telemetry.span("y"),
    "provider": type(trace.get_tracer_provider()).__name__,
}))
"""


def _probe(env: dict[str, str]) -> dict[str, object]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    out = subprocess.run(
        [sys.executable, "-c", NO_COST],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_without_the_endpoint_no_tracing_sdk_is_loaded(tmp_path: Path) -> None:
    # FastAPI and redis-py import parts of OpenTelemetry's API (and redis its metrics SDK) on
    # their own; what Parley adds when traces are on must stay unloaded when they are off.
    database = {"DATABASE_URL": f"sqlite:///{tmp_path / 'parley.db'}"}
    off = _probe(database)
    assert off == {
        "loaded": [],
        "enabled": False,
        "null_span": True,
        "provider": "ProxyTracerProvider",
    }
    # The probe does see them when the endpoint is set (nothing listens there: nothing is sent).
    on = _probe({**database, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"})
    assert on["enabled"] is True and on["provider"] == "TracerProvider"
    loaded = on["loaded"]
    assert isinstance(loaded, list)
    for module in (
        "opentelemetry.sdk.trace",
        "opentelemetry.exporter.otlp.proto.http.trace_exporter",
        "opentelemetry.instrumentation.celery",
        "opentelemetry.instrumentation.fastapi",
        "shared.telemetry.sdk",
        "api.tracing",
    ):
        assert module in loaded
