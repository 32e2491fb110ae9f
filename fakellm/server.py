"""`FakeLLM`: the fake served by uvicorn in a background thread (tests) or the foreground (CLI)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fakellm.directives import DirectiveError, Directives, JSONDict, parse_directives
from fakellm.script import decide, offered_tools, split_turn, usage_for
from fakellm.wire import SSEResponse, completion, error_response, garbage, stream_events

DEFAULT_MODEL = "fake-llm"
BACKLOG = 4096
STARTUP_TIMEOUT = 10.0
SHUTDOWN_TIMEOUT = 5.0


class FakeLLM:
    """An OpenAI-compatible chat-completions server running uvicorn in a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, latency: float = 0.0) -> None:
        self.host = host
        self.port = port
        self.latency = latency
        self.requests: list[JSONDict] = []
        # When each request arrived (time.time()), in the order of `requests`.
        self.request_times: list[float] = []
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
            self.request_times.clear()
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
                self.request_times.append(time.time())
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
        last_user, after = split_turn(messages)
        try:
            clean, d = parse_directives(last_user)
        except DirectiveError as exc:
            return error_response(400, f"FakeLLM directive error: {exc}")

        if d.error is not None:
            return d.latency, error_response(d.error, retry_after=d.retry_after)
        if d.error_times is not None and self._error_times_hit(last_user, d.error_times[0]):
            return d.latency, error_response(d.error_times[1], retry_after=d.retry_after)

        stream = bool(body.get("stream"))
        if d.garbage:
            return d.latency, garbage(stream)
        latency = d.latency + self._after_tool_delay(last_user, d, after)

        reply = decide(messages, clean, after, d, offered_tools(body))
        model = str(body.get("model") or DEFAULT_MODEL)
        usage = usage_for(messages, reply)
        completion_id = f"chatcmpl-{secrets.token_hex(12)}"
        headers = {"x-request-id": f"req_{secrets.token_hex(8)}"}
        if stream:
            options = body.get("stream_options")
            include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
            events = stream_events(completion_id, model, reply, usage, include_usage, self._sleep)
            return latency, SSEResponse(
                events, self._count_cancel, headers={"cache-control": "no-cache", **headers}
            )
        # A non-streamed reply still "generates" for as long as the streamed one would.
        generation = reply.chunk_delay * max(0, len(reply.chunks or []) - 1)
        return latency + generation, JSONResponse(
            completion(completion_id, model, reply, usage), headers=headers
        )
