"""The ``[[name=value]]`` directives a test writes into its user message to steer the fake."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

JSONDict = dict[str, Any]


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
    retry_after: float | None = None


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
        "retry_after",
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


def _set_error_times(found: Directives, value: str) -> None:
    count, status = _split_pair(value, "error_times")
    if not count.isdigit():
        raise DirectiveError(f"[[error_times=N,STATUS]]: {count!r} is not a count")
    found.error_times = (int(count), _parse_status(status, "error_times"))


def _set_stream(found: Directives, value: str) -> None:
    count, delay = _split_pair(value, "stream")
    if not count.isdigit() or int(count) < 1:
        raise DirectiveError(f"[[stream=N,DELAY]]: {count!r} is not a positive count")
    found.stream = (int(count), _parse_float(delay, "stream"))


def _set_latency_after_tool(found: Directives, value: str) -> None:
    seconds, _, times = value.partition(",")
    if times and not times.strip().isdigit():
        raise DirectiveError(f"[[latency_after_tool=S,N]]: {times!r} is not a count")
    found.latency_after_tool = (
        _parse_float(seconds, "latency_after_tool"),
        int(times) if times else None,
    )


def _set_bad_args(found: Directives, value: str) -> None:
    if not _TOOL_NAME_RE.fullmatch(value):
        raise DirectiveError(f"[[bad_args=NAME]]: {value!r} is not a tool name")
    found.bad_args = value.strip()


def _add_latency(found: Directives, value: str) -> None:
    found.latency += _parse_float(value, "latency")


def _set_retry_after(found: Directives, value: str) -> None:
    found.retry_after = _parse_float(value, "retry_after")


def _set_error(found: Directives, value: str) -> None:
    found.error = _parse_status(value, "error")


# How each directive that takes a value records it (`tool` has its own parser: JSON arguments).
_VALUE_SETTERS: dict[str, Callable[[Directives, str], None]] = {
    "latency": _add_latency,
    "error": _set_error,
    "error_times": _set_error_times,
    "stream": _set_stream,
    "latency_after_tool": _set_latency_after_tool,
    "bad_args": _set_bad_args,
    "retry_after": _set_retry_after,
}


def _apply_directive(found: Directives, name: str, value: str | None) -> None:
    if name in ("loop", "garbage"):
        if value:
            raise DirectiveError(f"[[{name}]] takes no value")
        setattr(found, name, True)
        return
    if value is None:
        raise DirectiveError(f"[[{name}=...]] needs a value")
    _VALUE_SETTERS[name](found, value)


def _parse_tool(text: str, cursor: int, has_value: bool) -> tuple[tuple[str, JSONDict], int]:
    """The NAME and JSON arguments of a ``[[tool=NAME {json}]]`` from `cursor`, and its end."""
    tool_name = _TOOL_NAME_RE.match(text, cursor) if has_value else None
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
    return (tool_name.group(1), args), cursor + 2


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
            found.tool, end = _parse_tool(text, cursor, has_value)
        else:
            close = text.find("]]", cursor)
            if close < 0:
                raise DirectiveError(f"[[{name}...]] is missing its closing ]]")
            _apply_directive(found, name, text[cursor:close].strip() if has_value else None)
            end = close + 2
        pieces.append(text[pos:start])
        pos = end
    return " ".join("".join(pieces).split()), found
