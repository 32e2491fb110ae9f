"""GET /v1/ws: auth, subscribe, run.create, several runs on one socket, close codes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

# The base class: websockets 16 (which openai-agents pins) types `with connect()` as it.
from websockets.sync.connection import Connection

from tests.api.sse import TERMINAL, read_events
from tests.stack import Api, Stack, make_token


def ws_url(stack: Stack, token: str | None = None) -> str:
    url = stack.api_url.replace("http://", "ws://") + "/v1/ws"
    return f"{url}?token={token}" if token is not None else url


@contextmanager
def socket(stack: Stack, token: str | None = None) -> Iterator[Connection]:
    with connect(ws_url(stack, token), open_timeout=10, close_timeout=5) as ws:
        yield ws


def receive(ws: Connection, seconds: float = 30) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(ws.recv(timeout=seconds))
    return message


def events_until_end(
    ws: Connection, runs: int = 1, seconds: float = 30
) -> dict[str, list[dict[str, Any]]]:
    """Messages per run id until `runs` runs have sent their terminal event."""
    deadline = time.monotonic() + seconds
    by_run: dict[str, list[dict[str, Any]]] = {}
    ended = 0
    while ended < runs:
        message = receive(ws, max(0.1, deadline - time.monotonic()))
        by_run.setdefault(message["run_id"], []).append(message)
        if message["type"] in TERMINAL:
            ended += 1
    return by_run


def close_code(ws: Connection, seconds: float = 15) -> int:
    """Read until the server closes; its close code."""
    with pytest.raises(ConnectionClosed) as closed:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ws.recv(timeout=seconds)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


def test_subscribe_gets_the_same_events_as_sse(api: Api, stack: Stack) -> None:
    run = api.submit("Add a task to buy bread")
    with socket(stack, make_token(api.user)) as ws:
        ws.send(json.dumps({"type": "subscribe", "run_id": run["id"]}))
        messages = events_until_end(ws)[run["id"]]
    sse = read_events(api, run["id"])
    assert [(m["id"], m["type"], m["data"]) for m in messages] == [
        (e.id, e.type, e.data) for e in sse.events
    ]
    assert set(messages[0]) == {"type", "id", "run_id", "data"}


def test_auth_message_then_run_create_and_resume(api: Api, stack: Stack) -> None:
    with socket(stack) as ws:
        ws.send(json.dumps({"type": "auth", "token": make_token(api.user)}))
        ws.send(json.dumps({"type": "run.create", "message": "remind me to stretch"}))
        by_run = events_until_end(ws)
    ((run_id, messages),) = by_run.items()
    assert [m["id"] for m in messages] == list(range(1, len(messages) + 1))
    assert messages[0]["type"] == "run.queued" and messages[-1]["type"] == "run.completed"
    assert api.get(f"/v1/runs/{run_id}").json()["status"] == "completed"
    with socket(stack, make_token(api.user)) as ws:
        ws.send(json.dumps({"type": "subscribe", "run_id": run_id, "after": 3}))
        resumed = events_until_end(ws)[run_id]
    assert [m["id"] for m in resumed] == [m["id"] for m in messages[3:]]


def test_several_runs_on_one_socket(api: Api, stack: Stack) -> None:
    with socket(stack, make_token(api.user)) as ws:
        ws.send(json.dumps({"type": "run.create", "message": "[[stream=8,0.05]] one"}))
        ws.send(json.dumps({"type": "run.create", "message": "[[stream=8,0.05]] two"}))
        ws.send(json.dumps({"type": "run.create", "message": "Add a task to call Ann"}))
        by_run = events_until_end(ws, runs=3)
    assert len(by_run) == 3
    for messages in by_run.values():
        assert [m["id"] for m in messages] == list(range(1, len(messages) + 1))
        assert messages[-1]["type"] == "run.completed"
    texts = sorted(ms[-1]["data"]["run"]["output"]["response"] for ms in by_run.values())
    assert texts[-1].startswith("chunk1 chunk2") and "call Ann" in texts[0]


def test_errors_keep_the_socket_open(api: Api, other: Api, stack: Stack) -> None:
    theirs = other.turn("hello")
    with socket(stack, make_token(api.user)) as ws:
        ws.send(json.dumps({"type": "subscribe", "run_id": theirs["id"]}))
        error = receive(ws)
        assert error["type"] == "error" and error["run_id"] == theirs["id"]
        assert error["data"]["status"] == 404
        ws.send(json.dumps({"type": "run.create", "message": ""}))
        invalid = receive(ws)
        assert invalid["type"] == "error" and invalid["data"]["status"] == 422
        ws.send(json.dumps({"type": "run.create", "message": "hi", "conversation_id": "conv_x"}))
        assert receive(ws)["data"]["status"] == 404
        ws.send(json.dumps({"type": "ping"}))
        assert receive(ws) == {"type": "pong"}


@pytest.mark.parametrize(
    "first",
    [
        "not json",
        "[1, 2]",
        '{"no": "type"}',
        '{"type": "dance"}',
        '{"type": "subscribe"}',
        '{"type": "subscribe", "run_id": 7}',
        '{"type": "subscribe", "run_id": "run_x", "after": -1}',
        '{"type": "subscribe", "run_id": "run_x", "after": NaN}',
    ],
)
def test_bad_messages_close_with_4400(api: Api, stack: Stack, first: str) -> None:
    with socket(stack, make_token(api.user)) as ws:
        ws.send(first)
        assert close_code(ws) == 4400


def test_binary_frames_close_with_4400(api: Api, stack: Stack) -> None:
    with socket(stack, make_token(api.user)) as ws:
        ws.send(b"\x00\x01")
        assert close_code(ws) == 4400


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        make_token("someone", secret="wrong-secret-wrong-secret-wrong-secret"),
        make_token("someone", ttl=-60),
    ],
)
def test_bad_tokens_close_with_4401(stack: Stack, token: str) -> None:
    with socket(stack, token) as ws:
        assert close_code(ws) == 4401
    with socket(stack) as ws:
        ws.send(json.dumps({"type": "auth", "token": token}))
        assert close_code(ws) == 4401


def test_a_first_message_that_is_not_auth_closes_with_4401(api: Api, stack: Stack) -> None:
    with socket(stack) as ws:
        ws.send(json.dumps({"type": "subscribe", "run_id": "run_x"}))
        assert close_code(ws) == 4401
    with socket(stack) as ws:
        ws.send("not json")
        assert close_code(ws) == 4401
