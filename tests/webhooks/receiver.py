"""A real HTTP receiver for webhook tests: a threaded server on 127.0.0.1, scripted per path."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.stack import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"ok"
    headers: tuple[tuple[str, str], ...] = ()
    hang: float = 0.0  # seconds to stall before answering (cut short when the receiver stops)


Script = Callable[[int], Answer]  # n-th request to the path (1-based) -> answer


class Receiver:
    """Records every POST; answers each path as scripted (default: 200)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.received: list[Received] = []
        self.in_flight: dict[str, int] = {}
        self._scripts: dict[str, Script] = {}
        self._lock = threading.Condition()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, answer: Script) -> str:
        self._scripts[path] = answer
        return self.url(path)

    def answers(self, path: str, *answers: Answer) -> str:
        """Answer the path's requests in this order; the last answer repeats."""
        return self.script(path, lambda n: answers[min(n, len(answers)) - 1])

    def requests(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def wait_for(self, path: str, count: int = 1, timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                got = [r for r in self.received if r.path == path]
                if len(got) >= count:
                    return got
                left = deadline - time.monotonic()
                assert left > 0, f"{path}: {len(got)} of {count} requests within {timeout} s"
                self._lock.wait(left)

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                path = self.path
                with receiver._lock:
                    receiver.received.append(
                        Received(
                            path, {k.lower(): v for k, v in self.headers.items()}, body, time.time()
                        )
                    )
                    n = len([r for r in receiver.received if r.path == path])
                    receiver.in_flight[path] = receiver.in_flight.get(path, 0) + 1
                    receiver._lock.notify_all()
                script = receiver._scripts.get(path)
                answer = script(n) if script is not None else Answer()
                try:
                    if answer.hang:
                        receiver._stopping.wait(answer.hang)
                    self.send_response(answer.status)
                    for name, value in answer.headers:
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except OSError:
                    pass  # the client gave up (a timeout under test)
                finally:
                    with receiver._lock:
                        receiver.in_flight[path] -= 1

            def log_message(self, *_args: Any) -> None:
                return None

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        threading.Thread(target=server.serve_forever, name="receiver", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
