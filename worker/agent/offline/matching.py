"""Finding the one task a request names by words of its title."""

from __future__ import annotations

import re
from typing import Any

from worker.agent.offline.intent import Intent

_STOPWORDS = frozenset("the a an my to for of and on in at with about task tasks".split())


def find_task(intent: Intent, tasks: list[dict[str, Any]]) -> int | str:
    """The id of the one task the query names, or a reply saying none or several match.

    Deleting or changing the wrong task is worse than asking, so a tie is a question.
    When completing, tasks already done are only considered if no pending one matches.
    """
    scored = [(_score(intent.query, str(t.get("title", ""))), t) for t in tasks]
    best = max((s for s, _ in scored), default=0.0)
    if best <= 0.5:
        return f"I couldn't find a task matching \"{intent.query}\", so I didn't change anything."
    candidates = [t for s, t in scored if s == best]
    if intent.action == "complete":
        pending = [t for t in candidates if not t.get("completed")]
        candidates = pending or candidates
    if len(candidates) > 1:
        options = ", ".join(f"{t['id']}. {t.get('title', '')}" for t in candidates)
        return (
            f'More than one task matches "{intent.query}": {options}. '
            "Which one do you mean? Tell me its number."
        )
    return int(candidates[0]["id"])


def _score(query: str, title: str) -> float:
    """How well `query` names `title`: 3 exact, 2 whole-phrase match, else share of words."""
    lowered = title.lower().strip()
    if query == lowered:
        return 3.0
    if re.search(rf"(?<!\w){re.escape(query)}(?!\w)", lowered):
        return 2.0
    wanted = _words(query)
    have = _words(lowered)
    if not wanted:
        return 0.0
    hits = sum(1 for w in wanted if any(h == w or (len(w) >= 3 and h.startswith(w)) for h in have))
    return hits / len(wanted)


def _words(text: str) -> list[str]:
    """Content words, crudely singularised so "meetings" finds "meeting"."""
    return [_stem(w) for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOPWORDS]


def _stem(word: str) -> str:
    """Singular form good enough for matching titles: groceries -> grocery, bills -> bill."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word
