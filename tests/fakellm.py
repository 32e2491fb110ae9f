"""A deterministic, OpenAI-compatible chat-completions server for tests and benchmarks.

`FakeLLM` speaks the real wire protocol (JSON and SSE streaming, tool calls, usage chunks), so
the real `openai` SDK works against it unmodified::

    with FakeLLM(latency=0.0) as llm:
        client = AsyncOpenAI(base_url=llm.base_url, api_key="test")
        ...

or, for benchmarks, in the foreground: ``python -m tests.fakellm --port 8099 --latency 2.0``.

Behaviour is driven only by the request's messages. Let ``last_user`` be the content of the last
``role: "user"`` message and ``after`` the messages following it (the current turn's assistant
tool-call messages and ``role: "tool"`` results). Directives in double square brackets inside
``last_user`` are stripped from the text before it is interpreted:

``[[latency=S]]``
    Sleep S seconds (float) before responding, on top of the server-wide ``latency``.
``[[error=STATUS]]``
    Every call answers HTTP STATUS with an OpenAI-style error body (429 adds ``Retry-After: 0``).
``[[error_times=N,STATUS]]``
    The first N calls whose ``last_user`` is this exact text answer STATUS; later ones succeed.
``[[loop]]``
    Always answer with a ``list_tasks {"status": "all"}`` tool call, never text (even if that
    tool is not offered), so an agent loop runs into its step limit.
``[[tool=NAME {json args}]]``
    With no tool result in ``after`` yet, call NAME with the args; afterwards answer text.
``[[stream=N,DELAY]]``
    Answer ``"chunk1 chunk2 ... chunkN"`` as N content chunks, sleeping DELAY seconds between
    chunks (a non-streamed call waits the same total time). Combined with another directive that
    decides a text reply, that text is streamed word by word with DELAY between chunks instead.
``[[garbage]]``
    HTTP 200 whose body is neither valid JSON nor valid chat-completion SSE.
``[[latency_after_tool=S]]`` / ``[[latency_after_tool=S,N]]``
    Sleep S seconds before answering a call whose ``after`` holds a tool result (the step after
    a tool ran); with N, only the first N such calls of this exact ``last_user`` text are slowed,
    so a turn retried after a crash is not slowed again.
``[[bad_args=NAME]]``
    With no tool result in ``after`` yet, call NAME with arguments that are not valid JSON;
    afterwards answer text.

A malformed directive value (``[[latency=abc]]``) answers 400 so mistakes surface loudly.

Without a deciding directive: if ``after`` holds a tool result, answer ``"Done. ..."`` summarising
the last one (or ``"Sorry, that failed: ..."`` when it starts with "Error"); otherwise map the text
to a tool call (``add task X`` / ``remind me to X`` -> add_task, ``list/show ... tasks`` ->
list_tasks, ``complete|mark task N`` -> complete_task, ``delete task N`` -> delete_task,
``rename task N to X`` -> update_task) or answer ``"You said: <text>"``. A tool the request does not
offer in ``tools`` is never called; the reply is then ``"I cannot do that."``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import re
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

__all__ = ["FakeLLM", "main"]

JSONDict = dict[str, Any]

DEFAULT_MODEL = "fake-llm"
BACKLOG = 4096
STARTUP_TIMEOUT = 10.0
SHUTDOWN_TIMEOUT = 5.0
CANNOT = "I cannot do that."

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

_DONE_WORDS: dict[str, str] = {
    "add_task": "created",
    "complete_task": "completed",
    "delete_task": "deleted",
    "update_task": "updated",
}


# --------------------------------------------------------------------------------------------
# Directives
# --------------------------------------------------------------------------------------------


class DirectiveError(ValueError):
    """A directive in the user message has a value the fake cannot interpret."""


@dataclass
class Directives:
    """Directives found in the last user message."""

    latency: float = 0.0
    error: int | None = None
    error_times: tuple[int, int] | None = None
    loop: bool = False
    tool: tuple[str, JSONDict] | None = None
    stream: tuple[int, float] | None = None
    garbage: bool = False
    latency_after_tool: tuple[float, int | None] | None = None
    bad_args: str | None = None


_KNOWN_DIRECTIVES = frozenset(
    {
        "latency",
        "error",
        "error_times",
        "loop",
        "tool",
        "stream",
        "garbage",
        "latency_after_tool",
        "bad_args",
    }
)
BAD_ARGUMENTS = '{"title": "unterminated'

_HEAD_RE = re.compile(r"\[\[\s*([A-Za-z_]+)\s*(=)?")
_TOOL_NAME_RE = re.compile(r"\s*([A-Za-z0-9_.\-]+)\s*")
_JSON_DECODER = json.JSONDecoder()


def _parse_status(raw: str, directive: str) -> int:
    try:
        status = int(raw.strip())
    except ValueError:
        raise DirectiveError(f"[[{directive}]]: {raw!r} is not an HTTP status") from None
    if not 400 <= status <= 599:
        raise DirectiveError(f"[[{directive}]]: status {status} is not in 400..599")
    return status


def _parse_float(raw: str, directive: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise DirectiveError(f"[[{directive}]]: {raw!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise DirectiveError(f"[[{directive}]]: {raw!r} must be a finite number >= 0")
    return value


def _split_pair(raw: str, directive: str) -> tuple[str, str]:
    parts = [p.strip() for p in raw.split(",")]
    if len(parts) != 2:
        raise DirectiveError(f"[[{directive}=A,B]] expects two comma-separated values, got {raw!r}")
    return parts[0], parts[1]


def _apply_directive(found: Directives, name: str, value: str | None) -> None:
    if name in ("loop", "garbage"):
        if value:
            raise DirectiveError(f"[[{name}]] takes no value")
        setattr(found, name, True)
        return
    if value is None:
        raise DirectiveError(f"[[{name}=...]] needs a value")
    if name == "latency":
        found.latency += _parse_float(value, name)
    elif name == "error":
        found.error = _parse_status(value, name)
    elif name == "error_times":
        count, status = _split_pair(value, name)
        if not count.isdigit():
            raise DirectiveError(f"[[error_times=N,STATUS]]: {count!r} is not a count")
        found.error_times = (int(count), _parse_status(status, name))
    elif name == "stream":
        count, delay = _split_pair(value, name)
        if not count.isdigit() or int(count) < 1:
            raise DirectiveError(f"[[stream=N,DELAY]]: {count!r} is not a positive count")
        found.stream = (int(count), _parse_float(delay, name))
    elif name == "latency_after_tool":
        seconds, _, times = value.partition(",")
        if times and not times.strip().isdigit():
            raise DirectiveError(f"[[latency_after_tool=S,N]]: {times!r} is not a count")
        found.latency_after_tool = (
            _parse_float(seconds, name),
            int(times) if times else None,
        )
    elif name == "bad_args":
        if not _TOOL_NAME_RE.fullmatch(value):
            raise DirectiveError(f"[[bad_args=NAME]]: {value!r} is not a tool name")
        found.bad_args = value.strip()


def parse_directives(text: str) -> tuple[str, Directives]:
    """Return `text` with all known directives removed, and the directives found in it.

    Unknown ``[[words]]`` are left in the text untouched. Raises `DirectiveError` when a known
    directive has a malformed value.
    """
    found = Directives()
    pieces: list[str] = []
    pos = 0
    while True:
        start = text.find("[[", pos)
        if start < 0:
            pieces.append(text[pos:])
            break
        head = _HEAD_RE.match(text, start)
        if head is None or head.group(1).lower() not in _KNOWN_DIRECTIVES:
            pieces.append(text[pos : start + 2])
            pos = start + 2
            continue
        name = head.group(1).lower()
        has_value = head.group(2) is not None
        cursor = head.end()
        if name == "tool":
            if not has_value:
                raise DirectiveError("[[tool=NAME {json args}]] needs a tool name")
            tool_name = _TOOL_NAME_RE.match(text, cursor)
            if tool_name is None:
                raise DirectiveError("[[tool=NAME {json args}]] needs a tool name")
            cursor = tool_name.end()
            args: Any = {}
            if not text.startswith("]]", cursor):
                try:
                    args, cursor = _JSON_DECODER.raw_decode(text, cursor)
                except json.JSONDecodeError as exc:
                    raise DirectiveError(f"[[tool=...]] arguments are not JSON: {exc}") from None
                if not isinstance(args, dict):
                    raise DirectiveError("[[tool=...]] arguments must be a JSON object")
                while cursor < len(text) and text[cursor].isspace():
                    cursor += 1
            if not text.startswith("]]", cursor):
                raise DirectiveError("[[tool=...]] is missing its closing ]]")
            found.tool = (tool_name.group(1), args)
            end = cursor + 2
        else:
            close = text.find("]]", cursor)
            if close < 0:
                raise DirectiveError(f"[[{name}...]] is missing its closing ]]")
            _apply_directive(found, name, text[cursor:close].strip() if has_value else None)
            end = close + 2
        pieces.append(text[pos:start])
        pos = end
    return " ".join("".join(pieces).split()), found


# --------------------------------------------------------------------------------------------
# Reading the request
# --------------------------------------------------------------------------------------------


def content_text(content: Any) -> str:
    """The text of a message `content`: a string, a list of content parts, or null."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "".join(parts)
    return str(content)


def _offered_tools(body: JSONDict) -> set[str]:
    names: set[str] = set()
    tools = body.get("tools")
    if not isinstance(tools, list):
        return names
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        function = tool.get("function")
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            names.add(function["name"])
        elif isinstance(tool.get("name"), str):
            names.add(tool["name"])
    return names


def _split_turn(messages: list[JSONDict]) -> tuple[str, list[JSONDict]]:
    """(`last_user` text, messages after it)."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "user":
            return content_text(messages[i].get("content")), messages[i + 1 :]
    return "", list(messages)


def _tool_name_for(result: JSONDict, messages: list[JSONDict]) -> str:
    call_id = result.get("tool_call_id")
    for message in messages:
        for call in message.get("tool_calls") or []:
            if isinstance(call, dict) and call.get("id") == call_id:
                function = call.get("function")
                if isinstance(function, dict) and isinstance(function.get("name"), str):
                    return str(function["name"])
    name = result.get("name")
    return name if isinstance(name, str) and name else "tool"


def _shorten(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _item_title(item: Any) -> str:
    if isinstance(item, dict) and "title" in item:
        return str(item["title"])
    return _shorten(json.dumps(item) if not isinstance(item, str) else item, 40)


def summarize_tool_result(content: str, tool_name: str) -> str:
    """The deterministic text answer after a tool result."""
    stripped = content.strip()
    if stripped.lower().startswith("error"):
        return f"Sorry, that failed: {stripped}"
    try:
        data: Any = json.loads(stripped)
    except ValueError:
        return f"Done. {tool_name}: {_shorten(stripped)}." if stripped else f"Done. {tool_name}."
    if isinstance(data, dict) and isinstance(data.get("tasks"), list):
        data = data["tasks"]
    if isinstance(data, list):
        if not data:
            return "Done. You have 0 task(s)."
        titles = ", ".join(_item_title(item) for item in data)
        return f"Done. You have {len(data)} task(s): {titles}."
    if isinstance(data, dict):
        if data.get("error"):
            return f"Sorry, that failed: {_shorten(str(data['error']))}"
        if "title" in data:
            status = data.get("status")
            word = _DONE_WORDS.get(tool_name) or (status if isinstance(status, str) else "ok")
            return f'Done. {tool_name}: "{data["title"]}" ({word}).'
    compact = json.dumps(data, separators=(",", ":"))
    return f"Done. {tool_name}: {_shorten(compact)}."


_TASK_N = r"task\s*#?\s*(\d+)"
_RENAME_RE = re.compile(rf"\brename\s+{_TASK_N}\s+to\s+(.+)", re.I | re.S)
_COMPLETE_RE = re.compile(rf"\b(?:complete|mark)\s+{_TASK_N}", re.I)
_DELETE_RE = re.compile(rf"\bdelete\s+{_TASK_N}", re.I)
_ADD_RE = re.compile(r"\badd\s+(?:a\s+)?task\s*(?:to\b)?[\s:]*(.+)", re.I | re.S)
_REMIND_RE = re.compile(r"\bremind\s+me\s+to\s+(.+)", re.I | re.S)


def _clean_title(raw: str) -> str:
    title = raw.strip().rstrip(".!?,;: ").strip()
    if len(title) >= 2 and title[0] == title[-1] and title[0] in "\"'":
        title = title[1:-1].strip()
    return title


def intent_for(text: str) -> tuple[str, JSONDict] | None:
    """The tool call a user message maps to, or None for a plain text reply."""
    if match := _RENAME_RE.search(text):
        title = _clean_title(match.group(2))
        if title:
            return "update_task", {"task_id": int(match.group(1)), "title": title}
    if match := _COMPLETE_RE.search(text):
        return "complete_task", {"task_id": int(match.group(1))}
    if match := _DELETE_RE.search(text):
        return "delete_task", {"task_id": int(match.group(1))}
    for pattern in (_ADD_RE, _REMIND_RE):
        if match := pattern.search(text):
            title = _clean_title(match.group(1))
            if title:
                return "add_task", {"title": title}
    lowered = text.lower()
    if re.search(r"\b(list|show)", lowered) and "task" in lowered:
        status = "all"
        if re.search(r"\bpending\b", lowered):
            status = "pending"
        elif re.search(r"\b(completed|done)\b", lowered):
            status = "completed"
        return "list_tasks", {"status": status}
    return None


# --------------------------------------------------------------------------------------------
# Replies
# --------------------------------------------------------------------------------------------


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclass
class Reply:
    """What the fake model answers: text or tool calls, and how to chunk the text."""

    text: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    chunks: list[str] | None = None
    chunk_delay: float = 0.0

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.tool_calls else "stop"

    def output_chars(self) -> int:
        if self.tool_calls:
            return sum(len(c.name) + len(c.arguments) for c in self.tool_calls)
        return len(self.text or "")


def _call(name: str, args: JSONDict) -> ToolCall:
    return ToolCall(
        id=f"call_{secrets.token_hex(6)}",
        name=name,
        arguments=json.dumps(args, ensure_ascii=False),
    )


def text_chunks(text: str, minimum: int = 3) -> list[str]:
    """Split text on spaces (each space stays with the following word) into >= `minimum` pieces."""
    words = text.split(" ")
    pieces = [words[0]] + [" " + word for word in words[1:]]
    if len(pieces) >= minimum:
        return pieces
    size = max(1, math.ceil(len(text) / minimum))
    pieces = [text[i : i + size] for i in range(0, len(text), size)]
    return pieces + [""] * (minimum - len(pieces))


def split_arguments(arguments: str, parts: int = 3) -> list[str]:
    """Split tool-call JSON arguments into at least 2 fragments."""
    parts = max(2, min(parts, len(arguments)))
    size = math.ceil(len(arguments) / parts)
    fragments = [arguments[i : i + size] for i in range(0, len(arguments), size)]
    while len(fragments) < 2:
        fragments.append("")
    return fragments


def usage_for(messages: list[JSONDict], reply: Reply) -> JSONDict:
    prompt_chars = sum(len(content_text(m.get("content"))) for m in messages)
    prompt_tokens = max(1, prompt_chars // 4)
    completion_tokens = max(1, reply.output_chars() // 4)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def decide(
    messages: list[JSONDict],
    last_user_clean: str,
    after: list[JSONDict],
    d: Directives,
    offered: set[str],
) -> Reply:
    """The deterministic reply for a (directive-free) turn."""
    delay = d.stream[1] if d.stream else 0.0
    if d.loop:
        return Reply(tool_calls=[_call("list_tasks", {"status": "all"})])

    tool_results = [m for m in after if m.get("role") == "tool"]

    def answer_text(text: str) -> Reply:
        return Reply(text=text, chunks=text_chunks(text), chunk_delay=delay)

    def call_or_refuse(name: str, args: JSONDict) -> Reply:
        if name not in offered:
            return answer_text(CANNOT)
        return Reply(tool_calls=[_call(name, args)])

    def summary() -> Reply:
        last = tool_results[-1]
        name = _tool_name_for(last, messages)
        return answer_text(summarize_tool_result(content_text(last.get("content")), name))

    if d.tool is not None:
        return summary() if tool_results else call_or_refuse(*d.tool)
    if d.bad_args is not None:
        if tool_results:
            return summary()
        if d.bad_args not in offered:
            return answer_text(CANNOT)
        return Reply(
            tool_calls=[ToolCall(f"call_{secrets.token_hex(6)}", d.bad_args, BAD_ARGUMENTS)]
        )
    if d.stream is not None:
        count = d.stream[0]
        chunks = [f"chunk{i}" if i == 1 else f" chunk{i}" for i in range(1, count + 1)]
        return Reply(text="".join(chunks), chunks=chunks, chunk_delay=delay)
    if tool_results:
        return summary()
    intent = intent_for(last_user_clean)
    if intent is not None:
        return call_or_refuse(*intent)
    return answer_text(f"You said: {last_user_clean}".rstrip())


# --------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------


def error_response(status: int, message: str | None = None) -> JSONResponse:
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
    if status == 429:
        headers["Retry-After"] = "0"
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


class FakeLLM:
    """An OpenAI-compatible chat-completions server running uvicorn in a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, latency: float = 0.0) -> None:
        self.host = host
        self.port = port
        self.latency = latency
        self.requests: list[JSONDict] = []
        self.cancelled = 0
        self._lock = threading.Lock()
        self._error_counts: dict[str, int] = {}
        self._after_tool_counts: dict[str, int] = {}
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._thread_error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat_completions, methods=["POST"]),
                Route("/chat/completions", self._chat_completions, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/_stats", self._stats, methods=["GET"]),
            ]
        )

    # ---- lifecycle ---------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
            sock.listen(BACKLOG)
        except OSError:
            sock.close()
            raise
        self.port = int(sock.getsockname()[1])
        self._socket = sock
        return sock

    def _make_server(self, *, foreground: bool = False, access_log: bool = False) -> uvicorn.Server:
        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self.port,
            lifespan="off",
            ws="none",
            access_log=access_log,
            log_level="info" if foreground else "warning",
            log_config=uvicorn.config.LOGGING_CONFIG if foreground else None,
            limit_concurrency=None,
            backlog=BACKLOG,
            timeout_keep_alive=30,
            timeout_graceful_shutdown=1,
        )
        return uvicorn.Server(config)

    def start(self) -> FakeLLM:
        """Serve in a daemon thread; returns once the server accepts connections."""
        if self._thread is not None:
            raise RuntimeError("FakeLLM already started")
        sock = self._bind()
        server = self._make_server()
        self._server = server

        def run() -> None:
            try:
                server.run(sockets=[sock])
            except BaseException as exc:  # reported by start()
                self._thread_error = exc

        self._thread = threading.Thread(target=run, name=f"fakellm-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"FakeLLM failed to start: {self._thread_error!r}")
            time.sleep(0.01)
        with socket.create_connection((self.host, self.port), timeout=STARTUP_TIMEOUT):
            pass
        return self

    def stop(self) -> None:
        """Shut the server down (in-flight streams are cut after ~1 s) and join its thread."""
        server, thread = self._server, self._thread
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None:
            # Cut pending sleeps short so in-flight requests end before uvicorn's graceful
            # shutdown has to cancel them (which it logs as "Exception in ASGI application").
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(SHUTDOWN_TIMEOUT)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(SHUTDOWN_TIMEOUT)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None
        self._loop = self._stopping = None

    def serve_forever(self, *, access_log: bool = False, announce: bool = True) -> None:
        """Serve in the calling thread until SIGINT/SIGTERM (used by the CLI)."""
        sock = self._bind()
        if announce:
            print(f"FakeLLM serving {self.base_url} (latency {self.latency}s)", flush=True)
        self._server = self._make_server(foreground=True, access_log=access_log)
        try:
            self._server.run(sockets=[sock])
        finally:
            sock.close()
            self._server = self._socket = None

    def reset(self) -> None:
        """Forget recorded requests, error_times counters and the cancel count."""
        with self._lock:
            self.requests.clear()
            self._error_counts.clear()
            self._after_tool_counts.clear()
            self.cancelled = 0

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- handlers ----------------------------------------------------------------------

    async def _sleep(self, seconds: float) -> bool:
        """Sleep `seconds`; returns False at once if the server is stopping (cut short)."""
        if self._stopping is None:
            self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        stopping = self._stopping
        if stopping.is_set():
            return False
        if seconds <= 0:
            return True
        try:
            await asyncio.wait_for(stopping.wait(), seconds)
        except TimeoutError:
            return True
        return False

    def _count_cancel(self) -> None:
        with self._lock:
            self.cancelled += 1

    def _error_times_hit(self, key: str, times: int) -> bool:
        """True while this last_user text has failed fewer than `times` times (counts the call)."""
        with self._lock:
            seen = self._error_counts.get(key, 0)
            self._error_counts[key] = seen + 1
        return seen < times

    def _after_tool_delay(self, last_user: str, d: Directives, after: list[JSONDict]) -> float:
        """The [[latency_after_tool]] delay of this call: only after a tool ran, N times at most."""
        if d.latency_after_tool is None or not any(m.get("role") == "tool" for m in after):
            return 0.0
        seconds, times = d.latency_after_tool
        if times is None:
            return seconds
        with self._lock:
            seen = self._after_tool_counts.get(last_user, 0)
            self._after_tool_counts[last_user] = seen + 1
        return seconds if seen < times else 0.0

    async def _models(self, request: Request) -> Response:
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {"id": DEFAULT_MODEL, "object": "model", "created": 0, "owned_by": "parley"}
                ],
            }
        )

    async def _stats(self, request: Request) -> Response:
        with self._lock:
            count = len(self.requests)
        return JSONResponse({"requests": count})

    async def _chat_completions(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = None
        if isinstance(body, dict):
            with self._lock:
                self.requests.append(body)
        delay = self.latency
        response = self._respond(body)
        if isinstance(response, tuple):
            extra, response = response
            delay += extra
        if delay > 0 and not await self._sleep(delay):
            return error_response(503, "FakeLLM is shutting down.")
        return response

    def _respond(self, body: Any) -> Response | tuple[float, Response]:
        if not isinstance(body, dict):
            return error_response(400, "Request body must be a JSON object.")
        messages = body.get("messages")
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            return error_response(400, "'messages' must be a list of message objects.")
        last_user, after = _split_turn(messages)
        try:
            clean, d = parse_directives(last_user)
        except DirectiveError as exc:
            return error_response(400, f"FakeLLM directive error: {exc}")

        if d.error is not None:
            return d.latency, error_response(d.error)
        if d.error_times is not None and self._error_times_hit(last_user, d.error_times[0]):
            return d.latency, error_response(d.error_times[1])

        stream = bool(body.get("stream"))
        if d.garbage:
            return d.latency, _garbage(stream)
        latency = d.latency + self._after_tool_delay(last_user, d, after)

        reply = decide(messages, clean, after, d, _offered_tools(body))
        model = str(body.get("model") or DEFAULT_MODEL)
        usage = usage_for(messages, reply)
        completion_id = f"chatcmpl-{secrets.token_hex(12)}"
        headers = {"x-request-id": f"req_{secrets.token_hex(8)}"}
        if stream:
            options = body.get("stream_options")
            include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
            events = _stream_events(completion_id, model, reply, usage, include_usage, self._sleep)
            return latency, SSEResponse(
                events, self._count_cancel, headers={"cache-control": "no-cache", **headers}
            )
        # A non-streamed reply still "generates" for as long as the streamed one would.
        generation = reply.chunk_delay * max(0, len(reply.chunks or []) - 1)
        return latency + generation, JSONResponse(
            _completion(completion_id, model, reply, usage), headers=headers
        )


def _garbage(stream: bool) -> Response:
    if stream:
        body = b'data: {"id": "chatcmpl-garbage", "choices": [{"delta": \x00<<not json>>\n\n'
        return Response(body, status_code=200, media_type="text/event-stream")
    body = b'{"id": "chatcmpl-garbage", "object": "chat.completion", <html>not json'
    return Response(body, status_code=200, media_type="application/json")


def _completion(completion_id: str, model: str, reply: Reply, usage: JSONDict) -> JSONDict:
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


async def _stream_events(
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


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakellm",
        description="Run the fake OpenAI-compatible chat-completions server in the foreground.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each reply")
    parser.add_argument("--access-log", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    FakeLLM(host=args.host, port=args.port, latency=args.latency).serve_forever(
        access_log=args.access_log
    )


if __name__ == "__main__":
    main()
