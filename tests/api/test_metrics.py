"""GET /metrics (docs/api.md section 9): Prometheus text, right across processes, no user data."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.stack import Api

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _scrape(client: httpx.Client) -> tuple[str, Samples]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return response.text, samples


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_expose_every_family(anon: httpx.Client) -> None:
    text, samples = _scrape(anon)
    families = {f.name: f.type for f in text_string_to_metric_families(text)}
    expected = {
        "parley_http_requests": "counter",
        "parley_http_request_duration_seconds": "histogram",
        "parley_runs": "gauge",
        "parley_run_queue_wait_seconds": "histogram",
        "parley_run_duration_seconds": "histogram",
        "parley_webhook_deliveries": "counter",
        "parley_metrics_database_up": "gauge",
    }
    for family, kind in expected.items():
        assert families.get(family) == kind, family
    assert _value(samples, "parley_metrics_database_up") == 1.0
    for status in ("queued", "in_progress", "completed", "failed", "cancelled"):
        assert ("parley_runs", (("status", status),)) in samples
    for outcome in ("delivered", "http_error", "timeout", "connection_error"):
        assert ("parley_webhook_deliveries_total", (("outcome", outcome),)) in samples


def test_a_completed_turn_moves_the_counters(api: Api, anon: httpx.Client) -> None:
    _, before = _scrape(anon)
    run = api.turn("Add a task to check the metrics")
    assert run["status"] == "completed"

    deadline = time.monotonic() + 30  # the database snapshot is shared for a couple of seconds
    while True:
        text, after = _scrape(anon)
        moved = _value(after, "parley_runs", status="completed") > _value(
            before, "parley_runs", status="completed"
        )
        if moved or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert moved, text

    def grew(name: str, **labels: str) -> bool:
        return _value(after, name, **labels) > _value(before, name, **labels)

    assert grew("parley_run_queue_wait_seconds_count")
    assert grew("parley_run_queue_wait_seconds_bucket", le="+Inf")
    assert grew("parley_run_duration_seconds_count", status="completed")
    assert _value(after, "parley_run_duration_seconds_sum", status="completed") > 0
    # Buckets are cumulative and end at the count.
    buckets = sorted(
        (float(dict(labels)["le"]), value)
        for (name, labels), value in after.items()
        if name == "parley_run_duration_seconds_bucket" and dict(labels)["status"] == "completed"
    )
    values = [v for _, v in buckets]
    assert values == sorted(values)
    assert values[-1] == _value(after, "parley_run_duration_seconds_count", status="completed")

    # Requests are counted under their route template, never the raw path with the id.
    assert grew("parley_http_requests_total", method="POST", route="/v1/runs", status="202")
    assert grew("parley_http_requests_total", method="GET", route="/v1/runs/{run_id}", status="200")
    assert grew(
        "parley_http_request_duration_seconds_count", method="GET", route="/v1/runs/{run_id}"
    )
    assert run["id"] not in text and run["conversation_id"] not in text
    assert api.user not in text and "check the metrics" not in text


def test_unmatched_paths_share_one_label(api: Api, anon: httpx.Client) -> None:
    for i in range(5):
        api.get(f"/random/path/{i}")
    text, samples = _scrape(anon)
    assert "/random/path" not in text
    assert (
        _value(samples, "parley_http_requests_total", method="GET", route="unmatched", status="404")
        >= 5
    )


def test_a_delivered_webhook_is_counted(api: Api, anon: httpx.Client) -> None:
    received = threading.Event()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(204)
            self.end_headers()
            received.set()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        _, before = _scrape(anon)
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        run = api.turn("hello webhook", webhook_url=url)
        assert run["status"] == "completed"
        assert received.wait(30), "the webhook never arrived"
        deadline = time.monotonic() + 30
        while True:
            _, after = _scrape(anon)
            delivered = _value(after, "parley_webhook_deliveries_total", outcome="delivered")
            if delivered > _value(before, "parley_webhook_deliveries_total", outcome="delivered"):
                break
            assert time.monotonic() < deadline, "delivery not counted"
            time.sleep(0.5)
    finally:
        server.shutdown()
        server.server_close()
