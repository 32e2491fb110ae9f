"""SIGTERM on the API with clients following a turn: SSE streams end cleanly at once (not cut
at the graceful-shutdown timeout), WebSockets close with 1012, and both resume on a new API
process from the last event they saw."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from fakellm import FakeLLM
from shared.cli.argv import web_argv
from tests.api.sse import Stream, read_events
from tests.conftest import TIERS, running_stack
from tests.stack import Stack, free_port, make_token


@pytest.fixture(params=TIERS)
def api_stack(request: pytest.FixtureRequest, llm: FakeLLM, tmp_path: Path) -> Iterator[Stack]:
    with running_stack(request, str(request.param), tmp_path, llm) as s:
        yield s


def test_sigterm_closes_streams_cleanly_and_clients_resume_elsewhere(api_stack: Stack) -> None:
    api = api_stack.client()
    run = api.submit("Say something slowly [[latency=6]]")
    streamed: list[Stream] = []
    reader = threading.Thread(
        target=lambda: streamed.append(read_events(api, run["id"], seconds=60)), daemon=True
    )
    reader.start()
    url = api_stack.api_url.replace("http://", "ws://") + f"/v1/ws?token={make_token(api.user)}"
    with connect(url, open_timeout=10, close_timeout=5) as ws:
        ws.send(json.dumps({"type": "subscribe", "run_id": run["id"]}))
        first: dict[str, Any] = json.loads(ws.recv(timeout=30))
        assert first["run_id"] == run["id"]
        time.sleep(1)  # the SSE reader is connected too

        stopped = time.monotonic()
        api_stack.kill("web", signal.SIGTERM)
        # The stack's web has a 3 s graceful-shutdown bound: the app ended its streams before it.
        assert time.monotonic() - stopped < 2.5
        reader.join(timeout=10)
        assert streamed and streamed[0].ended, "the SSE stream was cut, not ended"
        sse = streamed[0]
        assert sse.events and "run.completed" not in sse.types
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012

    port = free_port()
    api_stack.start_proc("web2", web_argv("127.0.0.1", port, graceful_shutdown_seconds=3))
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline
        time.sleep(0.2)
    rest = read_events(api, run["id"], last_event_id=str(sse.ids[-1]), base_url=base)
    assert rest.ended and rest.types[-1] == "run.completed"
    assert rest.ids == list(range(sse.ids[-1] + 1, sse.ids[-1] + 1 + len(rest.ids)))

    resumed_url = base.replace("http://", "ws://") + f"/v1/ws?token={make_token(api.user)}"
    with connect(resumed_url, open_timeout=10, close_timeout=5) as again:
        again.send(json.dumps({"type": "subscribe", "run_id": run["id"], "after": first["id"]}))
        ids = []
        while True:
            message = json.loads(again.recv(timeout=30))
            ids.append(message["id"])
            if message["type"] == "run.completed":
                break
    assert ids[0] == first["id"] + 1
    api.close()
