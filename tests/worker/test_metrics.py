"""A worker process's own Prometheus port (worker.metrics): real turns move its counters with
the right labels, and the dashboard's every query names a metric the real processes serve."""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shared.cli.argv import console_script
from shared.config import Settings
from tests.prometheus import Samples, promql_metric_names, scrape, series_names, value
from tests.stack import free_port
from tests.test_deploy_files import dashboard_queries
from tests.worker.conftest import StackFactory

MODEL = str(Settings.model_fields["openai_model"].default)  # the stacks leave OPENAI_MODEL unset


@pytest.fixture
def receiver() -> Iterator[tuple[str, threading.Event]]:
    """A webhook receiver answering 204; the event is set at the first delivery."""
    received = threading.Event()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(204)
            self.end_headers()
            received.set()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def _until(url: str, done: Callable[[Samples], bool], seconds: float = 30) -> Samples:
    """Scrape until `done(samples)` holds (deliveries are counted after their turn ends)."""
    deadline = time.monotonic() + seconds
    while True:
        _, samples = scrape(url)
        if done(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.3)


def test_turns_model_and_tool_calls_and_webhooks_are_counted_and_dashboarded(
    private_stack: StackFactory, receiver: tuple[str, threading.Event]
) -> None:
    port = free_port()
    stack = private_stack(extra_env={"WORKER_METRICS_PORT": str(port)})
    url = f"http://127.0.0.1:{port}/metrics"
    _, before = scrape(url)
    assert value(before, "parley_worker_turns_in_flight") == 0
    assert value(before, "parley_worker_turns_total", status="completed") == 0
    hook, received = receiver

    api = stack.client()
    added = api.turn("Add a task to buy milk", webhook_url=hook)
    assert added["status"] == "completed", added
    assert [c["tool_name"] for c in added["output"]["tool_calls"]] == ["add_task"]
    refused = api.turn("complete task 999")  # the tool refuses: no such task
    assert refused["status"] == "completed" and refused["output"]["tool_calls"][0]["is_error"]
    broken = api.turn("hello [[error=400]]")  # the endpoint refuses the request
    assert broken["status"] == "failed" and broken["error"]["code"] == "llm_bad_response"
    assert received.wait(30), "the webhook never arrived"

    after = _until(
        url,
        lambda s: value(s, "parley_worker_webhook_deliveries_total", outcome="delivered") >= 1,
    )
    assert value(after, "parley_worker_webhook_deliveries_total", outcome="delivered") == 1
    assert value(after, "parley_worker_webhook_delivery_duration_seconds_count") == 1

    assert value(after, "parley_worker_turns_total", status="completed") == 2
    assert value(after, "parley_worker_turns_total", status="failed") == 1
    assert value(after, "parley_worker_turn_duration_seconds_count", status="completed") == 2
    assert value(after, "parley_worker_turn_duration_seconds_sum", status="completed") > 0
    assert value(after, "parley_worker_queue_wait_seconds_count") == 3
    assert value(after, "parley_worker_turns_in_flight") == 0

    # Two calls per tool turn (the call, then the answer); one refused request, not retried.
    assert value(after, "parley_worker_model_calls_total", model=MODEL, outcome="ok") == 4
    assert (
        value(after, "parley_worker_model_calls_total", model=MODEL, outcome="llm_bad_response")
        == 1
    )
    assert value(after, "parley_worker_model_call_duration_seconds_count", model=MODEL) == 5
    assert value(after, "parley_worker_model_tokens_total", model=MODEL, kind="prompt") > 0
    assert value(after, "parley_worker_model_tokens_total", model=MODEL, kind="completion") > 0

    assert value(after, "parley_worker_tool_calls_total", tool="add_task", outcome="ok") == 1
    assert (
        value(after, "parley_worker_tool_calls_total", tool="complete_task", outcome="error") == 1
    )
    assert value(after, "parley_worker_tool_call_duration_seconds_count", tool="add_task") == 1
    assert value(after, "parley_worker_lease_losses_total") == 0
    # No user data in any label: the user, the run, the message never appear.
    for (_, labels), _v in after.items():
        for _k, label in labels:
            assert api.user not in label and added["id"] not in label and "milk" not in label
    api.close()

    # The Grafana dashboard queries only series these real processes serve.
    api_families, _ = scrape(f"{stack.api_url}/metrics")
    worker_families, _ = scrape(url)
    served = series_names(api_families) | series_names(worker_families)
    for title, expr in dashboard_queries():
        missing = promql_metric_names(expr) - served
        assert not missing, f"{title}: {sorted(missing)} served by no process"


def test_parley_worker_gives_each_process_its_own_port(private_stack: StackFactory) -> None:
    """`parley worker` with two processes: the base port and the next, one scrape target each."""
    stack = private_stack()
    base = free_port()
    while True:  # the next port must be free as well
        try:
            with socket.create_server(("127.0.0.1", base + 1)):
                break
        except OSError:
            base = free_port()
    stack.start_proc(
        "parley-worker",
        [console_script("parley"), "worker", "--processes", "2", "--concurrency", "4"],
        env={"WORKER_METRICS_PORT": str(base)},
    )
    deadline = time.monotonic() + 90
    pending = {base, base + 1}
    while pending:
        for port in list(pending):
            try:
                families, _ = scrape(f"http://127.0.0.1:{port}/metrics")
            except Exception:
                continue
            assert "parley_worker_turns_in_flight" in series_names(families)
            pending.discard(port)
        assert time.monotonic() < deadline, stack.procs["parley-worker"].log()[-4000:]
        time.sleep(0.3)
    stack.kill("parley-worker", signal.SIGTERM)
