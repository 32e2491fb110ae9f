"""A small Server-Sent Events reader for tests: frames, comments, and early disconnects."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

TERMINAL = ("run.completed", "run.failed", "run.cancelled")


@dataclass
class Frame:
    id: int
    type: str
    data: dict[str, Any]


@dataclass
class Stream:
    """What one connection delivered."""

    status: int
    events: list[Frame] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    ended: bool = False  # the server closed the stream (after the terminal event)
    raw: list[str] = field(default_factory=list)

    @property
    def ids(self) -> list[int]:
        return [e.id for e in self.events]

    @property
    def types(self) -> list[str]:
        return [e.type for e in self.events]

    @property
    def text(self) -> str:
        return "".join(e.data["delta"] for e in self.events if e.type == "message.delta")


def read_events(
    client: httpx.Client,
    run_id: str,
    *,
    after: int | None = None,
    last_event_id: str | None = None,
    stop_after: int | None = None,
    seconds: float = 30,
    base_url: str | None = None,
) -> Stream:
    """Read a run's event stream until it ends, or disconnect after `stop_after` events."""
    params = {"after": after} if after is not None else {}
    headers = {"Last-Event-ID": last_event_id} if last_event_id is not None else {}
    url = f"{base_url or ''}/v1/runs/{run_id}/events"
    deadline = time.monotonic() + seconds
    with client.stream("GET", url, params=params, headers=headers, timeout=seconds) as response:
        stream = Stream(response.status_code)
        if response.status_code != 200:
            response.read()
            stream.raw.append(response.text)
            return stream
        fields: dict[str, str] = {}
        for line in response.iter_lines():
            assert time.monotonic() < deadline, f"stream of {run_id} still open: {stream.types}"
            stream.raw.append(line)
            if line.startswith(":"):
                stream.comments.append(line)
                continue
            if line:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
                continue
            if "data" in fields:
                stream.events.append(
                    Frame(int(fields["id"]), fields["event"], json.loads(fields["data"]))
                )
                if stop_after is not None and len(stream.events) >= stop_after:
                    return stream
            fields = {}
        stream.ended = True
    return stream
