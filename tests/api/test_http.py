"""HTTP-level guarantees: the body limit, request ids, security headers, CORS (sections 1, 10)."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fakellm import FakeLLM
from tests.api.conftest import count
from tests.conftest import TIERS, running_stack
from tests.stack import Api, Stack

MIB = 1024 * 1024


def _big_body(size: int) -> bytes:
    """A syntactically valid submit body of about `size` bytes."""
    padding = size - len(json.dumps({"message": "hi", "metadata": {"p": ""}}))
    return json.dumps({"message": "hi", "metadata": {"p": "x" * padding}}).encode()


def test_body_over_1_mib_with_content_length_is_413(api: Api, stack: Stack) -> None:
    body = _big_body(MIB + 1)
    for path in ("/v1/runs", "/v1/conversations", "/v1/tasks", f"/api/{api.user}/chat"):
        response = api.post(path, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 413, (path, response.text)
        assert response.json() == {"detail": "request body larger than 1 MiB"}
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Request-ID"]
    assert count(stack, "runs", user_id=api.user) == 0


def test_chunked_body_over_1_mib_is_413(api: Api, stack: Stack) -> None:
    body = _big_body(MIB + 64 * 1024)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    response = api.post("/v1/runs", content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert response.status_code == 413, response.text
    assert count(stack, "runs", user_id=api.user) == 0


def test_body_just_under_the_limit_is_read_and_validated(api: Api) -> None:
    # Under 1 MiB the body gets through, and only then the 4 KB metadata limit refuses it.
    response = api.post(
        "/v1/runs", content=_big_body(MIB - 16), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text[:200]

    def chunks() -> Iterator[bytes]:
        yield b'{"message": '
        yield b'"chunked and small"}'

    chunked = api.post("/v1/runs", content=chunks(), headers={"Content-Type": "application/json"})
    assert chunked.status_code == 202, chunked.text


def test_declared_length_over_the_limit_is_refused_before_the_body(stack: Stack) -> None:
    host, port = stack.api_url.removeprefix("http://").split(":")
    head = (
        "POST /v1/runs HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {10 * MIB}\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(head.encode())  # and none of the 10 MiB: the header alone decides
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = conn.recv(4096)
            if not chunk:
                break
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]


def test_every_response_carries_request_id_and_security_headers(
    api: Api, anon: httpx.Client
) -> None:
    responses = [
        api.get("/v1/conversations"),  # 200
        api.post("/v1/runs", json={"message": ""}),  # 422
        api.get("/v1/runs/run_missing"),  # 404
        api.get("/no/such/route"),  # 404 unmatched
        api.put("/v1/conversations"),  # 405
        anon.get("/v1/tasks"),  # 401
        anon.get("/healthz"),
        anon.get("/metrics"),
        api.post(f"/api/{api.user}x/chat", json={"message": "hi"}),  # 403
    ]
    for response in responses:
        assert response.status_code != 500
        headers = response.headers
        assert headers["X-Content-Type-Options"] == "nosniff", response.url
        assert headers["Referrer-Policy"] == "no-referrer", response.url
        assert len(headers["X-Request-ID"]) >= 16, response.url
        if response.status_code >= 400:
            assert "detail" in response.json(), response.url
    ids = {r.headers["X-Request-ID"] for r in responses}
    assert len(ids) == len(responses)  # minted fresh for each request


def test_request_id_is_echoed_when_sent(api: Api, anon: httpx.Client) -> None:
    mine = f"client-{uuid.uuid4()}"
    assert api.get("/v1/tasks", headers={"X-Request-ID": mine}).headers["X-Request-ID"] == mine
    refused = anon.get("/v1/tasks", headers={"X-Request-ID": mine})
    assert refused.status_code == 401 and refused.headers["X-Request-ID"] == mine
    # Ids that could forge log lines or bloat them are replaced, not echoed.
    for bad in ("has spaces in it", "x" * 500, "line\\nbreak"):
        echoed = api.get("/v1/tasks", headers={"X-Request-ID": bad}).headers["X-Request-ID"]
        assert echoed != bad and echoed


@pytest.fixture(scope="module", params=TIERS)
def cors_stack(
    request: pytest.FixtureRequest, llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    tier = str(request.param)
    workdir: Path = tmp_path_factory.mktemp(f"cors-{tier}")
    origins = {"CORS_ALLOW_ORIGINS": "https://app.example, https://admin.example"}
    with running_stack(request, tier, workdir, llm, extra_env=origins) as stack:
        yield stack


def test_cors_allows_the_configured_origins_with_authorization(cors_stack: Stack) -> None:
    with cors_stack.client() as api:
        preflight = api.options(
            "/v1/runs",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
            },
        )
        assert preflight.status_code == 200, preflight.text
        assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example"
        allowed = preflight.headers["Access-Control-Allow-Headers"].lower()
        assert "authorization" in allowed and "idempotency-key" in allowed
        assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
        assert preflight.headers["X-Request-ID"]

        actual = api.get("/v1/tasks", headers={"Origin": "https://admin.example"})
        assert actual.status_code == 200
        assert actual.headers["Access-Control-Allow-Origin"] == "https://admin.example"
        exposed = actual.headers["Access-Control-Expose-Headers"].lower()
        assert "location" in exposed and "x-request-id" in exposed


def test_cors_ignores_other_origins(cors_stack: Stack) -> None:
    with cors_stack.client() as api:
        preflight = api.options(
            "/v1/runs",
            headers={
                "Origin": "https://evil.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert preflight.status_code == 400
        assert "access-control-allow-origin" not in preflight.headers
        actual = api.get("/v1/tasks", headers={"Origin": "https://evil.example"})
        assert actual.status_code == 200
        assert "access-control-allow-origin" not in actual.headers


def test_without_cors_configuration_no_origin_is_allowed(stack: Stack) -> None:
    with stack.client() as api:
        preflight = api.options(
            "/v1/runs",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in preflight.headers
        actual = api.get("/v1/tasks", headers={"Origin": "https://app.example"})
        assert "access-control-allow-origin" not in actual.headers
