"""Regression tests for the holes an attack run found (issue 10), against a running stack."""

from __future__ import annotations

import socket

import httpx
import pytest
from websockets.sync.client import connect

from tests.api.test_events_ws import close_code, ws_url
from tests.stack import Api, Stack, make_token

BAD_WEBHOOK_URLS = [
    "http://example.com/hook\r\nX-Injected: 1",
    "http://example.com/a b",
    "http://exa\tmple.com/hook",
    "https://example.com/\nhook",
    "http://example.com/\x7f",
    "http://exämple.com/hook",
]


@pytest.mark.parametrize("url", BAD_WEBHOOK_URLS)
def test_webhook_urls_with_spaces_or_control_characters_are_refused(api: Api, url: str) -> None:
    response = api.post("/v1/runs", json={"message": "hi", "webhook_url": url})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "webhook_url"]


def test_every_405_names_the_allowed_methods(anon: httpx.Client) -> None:
    for method, path, expected in (
        ("DELETE", "/v1/runs", {"GET", "POST"}),
        ("PUT", "/v1/tasks/1", {"GET", "PATCH", "DELETE"}),
        ("POST", "/healthz", {"GET"}),
        ("DELETE", "/v1/webhook-secret", {"GET"}),
    ):
        response = anon.request(method, path)
        assert response.status_code == 405, (method, path)
        allow = {m.strip() for m in response.headers["allow"].split(",") if m.strip()}
        assert expected <= allow and method not in allow, (path, allow)


def test_secrets_and_tokens_are_never_cached(api: Api, anon: httpx.Client) -> None:
    for response in (
        api.get("/v1/webhook-secret"),
        api.post("/v1/webhook-secret/rotate"),
        anon.post("/v1/dev/token"),
    ):
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"


def test_a_huge_422_does_not_echo_the_whole_input(api: Api) -> None:
    message = "x" * 1_000_000
    response = api.post("/v1/runs", json={"message": message})
    assert response.status_code == 422
    assert len(response.content) < 2000
    error = response.json()["detail"][0]
    assert error["loc"] == ["body", "message"] and error["input_truncated"] is True


def test_a_body_that_is_not_json_is_told_to_send_json(api: Api) -> None:
    for content in ("message=hello", '{"message": "hello"}'):
        response = api.post("/v1/runs", content=content, headers={"Content-Type": "text/plain"})
        assert response.status_code == 422
        message = response.json()["detail"][0]["msg"]
        assert "Content-Type: application/json" in message and "dictionary" not in message


def test_an_authorization_header_without_bearer_says_so(stack: Stack, anon: httpx.Client) -> None:
    token = make_token("someone")
    missing = anon.get("/v1/runs")
    no_scheme = anon.get("/v1/runs", headers={"Authorization": token})
    other_scheme = anon.get("/v1/runs", headers={"Authorization": f"Token {token}"})
    assert missing.status_code == no_scheme.status_code == other_scheme.status_code == 401
    assert "missing Authorization header" in missing.json()["detail"]
    for response in (no_scheme, other_scheme):
        assert "Bearer <token>" in response.json()["detail"]
        assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "message",
    [
        '{"type":"subscribe","run_id":"\\ud800"}',
        '{"type":"subscribe","run_id":"run_\\u0000x"}',
        '{"type":"unsubscribe","run_id":"\\udfff"}',
    ],
)
def test_socket_run_ids_with_nul_or_lone_surrogates_close_with_4400(
    stack: Stack, message: str
) -> None:
    with connect(ws_url(stack, make_token("ws-user")), open_timeout=10) as ws:
        ws.send(message)
        assert close_code(ws) == 4400


def test_a_socket_token_with_a_lone_surrogate_closes_with_4401(stack: Stack) -> None:
    with connect(ws_url(stack), open_timeout=10) as ws:
        ws.send('{"type":"auth","token":"ey\\ud800"}')
        assert close_code(ws) == 4401


def _raw_request(stack: Stack, head: bytes) -> bytes:
    """Send a raw request head; the server's answer (empty if it just closed)."""
    with socket.create_connection(("127.0.0.1", stack.api_port), timeout=30) as conn:
        try:
            conn.sendall(head)
        except (BrokenPipeError, ConnectionResetError):
            pass
        chunks = []
        try:
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        except (ConnectionResetError, TimeoutError):
            pass
    return b"".join(chunks)


def test_request_heads_are_bounded_in_size_and_count(stack: Stack) -> None:
    start = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    huge = start + b"X-Big: " + b"a" * (8 * 1024 * 1024) + b"\r\n\r\n"
    answer = _raw_request(stack, huge)
    assert not answer.startswith(b"HTTP/1.1 200"), answer[:200]
    many = start + b"".join(b"X-H%d: v\r\n" % i for i in range(20_000)) + b"\r\n"
    answer = _raw_request(stack, many)
    assert not answer.startswith(b"HTTP/1.1 200"), answer[:200]
    counted = start + b"".join(b"X-H%d: v\r\n" % i for i in range(150)) + b"\r\n"
    assert _raw_request(stack, counted).startswith(b"HTTP/1.1 431")
    fine = start + b"".join(b"X-H%d: v\r\n" % i for i in range(40)) + b"\r\n"
    assert _raw_request(stack, fine).startswith(b"HTTP/1.1 200")
