"""Reading tool results back: JSON data, or the error a tool reported."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

# "Error executing tool complete_task: task 9 not found" -> "task 9 not found".
_ERROR_DETAIL = re.compile(
    r"error(?:\s+executing\s+tool\s+\S+)?\s*:\s*(?P<detail>.+)$", re.IGNORECASE | re.S
)


@dataclass(frozen=True)
class Outcome:
    """A tool result read back: parsed JSON `data` when `ok`, else a human-readable `error`."""

    ok: bool
    data: Any = None
    error: str = ""


def read_result(result: str | None) -> Outcome:
    """Classify a tool result: JSON data, or an error ("Error ...", "... not found")."""
    text = (result or "").strip()
    if text.lower().startswith("error"):
        return Outcome(ok=False, error=_error_detail(text))
    try:
        data = json.loads(text)
    except ValueError:
        if "not found" in text.lower():
            return Outcome(ok=False, error=text)
        return Outcome(ok=True, data=text)
    if isinstance(data, dict) and data.get("error"):
        return Outcome(ok=False, error=str(data["error"]))
    return Outcome(ok=True, data=data)


def _error_detail(text: str) -> str:
    """The useful part of "Error executing tool complete_task: task 9 not found"."""
    match = _ERROR_DETAIL.match(text)
    detail = match.group("detail") if match else text
    return detail.strip().rstrip(".")


def tasks_from(data: Any) -> list[dict[str, Any]]:
    """The task dicts of a list_tasks result (a bare list, or an object with a "tasks" list)."""
    if isinstance(data, dict):
        data = data.get("tasks")
    if not isinstance(data, list):
        return []
    # Task numbers are what users type, so a task without a numeric id cannot be referred to.
    return [t for t in data if isinstance(t, dict) and str(t.get("id", "")).isdigit()]
