"""The OpenAI wire formats: completion JSON, SSE chunks, error bodies, and a cancel-aware stream."""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from fakellm.directives import JSONDict
from fakellm.script import Reply, split_arguments, text_chunks

_ERROR_KINDS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", "permission_denied"),
    404: ("not_found_error", "model_not_found"),
    408: ("timeout_error", "request_timeout"),
    409: ("conflict_error", "conflict"),
    422: ("invalid_request_error", "unprocessable_entity"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    500: ("server_error", "internal_error"),
    502: ("server_error", "bad_gateway"),
    503: ("server_error", "service_unavailable"),
    504: ("server_error", "gateway_timeout"),
}


def error_response(
    status: int, message: str | None = None, retry_after: float | None = None
) -> JSONResponse:
    kind, code = _ERROR_KINDS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", f"http_{status}")
    )
    body = {
        "error": {
            "message": message or f"FakeLLM simulated error {status}",
            "type": kind,
            "param": None,
            "code": code,
        }
    }
    headers = {"x-request-id": f"req_{secrets.token_hex(8)}"}
    if status == 429 or retry_after is not None:
        headers["Retry-After"] = f"{retry_after or 0:g}"
    return JSONResponse(body, status_code=status, headers=headers)


def _sse(payload: JSONDict | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {data}\n\n".encode()


class SSEResponse(StreamingResponse):
    """A streaming response that notices a client disconnect and reports it as a cancel."""

    def __init__(
        self,
        content: AsyncIterator[bytes],
        on_cancel: Callable[[], None],
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(content, media_type="text/event-stream", headers=headers)
        self._on_cancel = on_cancel

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        completed = False
        async with anyio.create_task_group() as group:

            async def stream() -> None:
                nonlocal completed
                with contextlib.suppress(OSError):
                    await self.stream_response(send)
                    completed = True
                group.cancel_scope.cancel()

            group.start_soon(stream)
            await self.listen_for_disconnect(receive)
            group.cancel_scope.cancel()
        if not completed:
            self._on_cancel()
        aclose = getattr(self.body_iterator, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()


def garbage(stream: bool) -> Response:
    if stream:
        body = b'data: {"id": "chatcmpl-garbage", "choices": [{"delta": \x00<<not json>>\n\n'
        return Response(body, status_code=200, media_type="text/event-stream")
    body = b'{"id": "chatcmpl-garbage", "object": "chat.completion", <html>not json'
    return Response(body, status_code=200, media_type="application/json")


def completion(completion_id: str, model: str, reply: Reply, usage: JSONDict) -> JSONDict:
    message: JSONDict = {"role": "assistant", "content": reply.text, "refusal": None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in reply.tool_calls
        ]
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_fakellm",
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": reply.finish_reason,
            }
        ],
        "usage": usage,
    }


async def stream_events(
    completion_id: str,
    model: str,
    reply: Reply,
    usage: JSONDict,
    include_usage: bool,
    sleep: Callable[[float], Awaitable[bool]],
) -> AsyncIterator[bytes]:
    """The SSE body; `sleep` returns False when the server stops, which truncates the stream."""
    created = int(time.time())

    def chunk(delta: JSONDict, finish_reason: str | None = None) -> bytes:
        payload: JSONDict = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_fakellm",
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
        if include_usage:
            payload["usage"] = None
        return _sse(payload)

    if reply.tool_calls:
        for index, call in enumerate(reply.tool_calls):
            fragments = split_arguments(call.arguments)
            head: JSONDict = {
                "index": index,
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            delta: JSONDict = {"tool_calls": [head]}
            if index == 0:
                delta = {"role": "assistant", "content": None, "refusal": None, **delta}
            yield chunk(delta)
            for fragment in fragments:
                yield chunk({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})
    else:
        yield chunk({"role": "assistant", "content": "", "refusal": None})
        for i, piece in enumerate(reply.chunks or text_chunks(reply.text or "")):
            if i and reply.chunk_delay > 0 and not await sleep(reply.chunk_delay):
                return
            yield chunk({"content": piece})
    yield chunk({}, reply.finish_reason)
    if include_usage:
        yield _sse(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fakellm",
                "choices": [],
                "usage": usage,
            }
        )
    yield _sse("[DONE]")
