"""Finding the one task a request names by words of its title."""

from __future__ import annotations

import re
from typing import Any

from worker.agent.offline.intent import Intent
from worker.agent.offline.patterns import ORDINALS

_STOPWORDS = frozenset("the a an my to for of and on in at with about task tasks".split())


# The first spelling of each place: "first", "second", ..., "last", "second to last".
_ORDINAL_NAMES = {place: word for word, place in reversed(ORDINALS.items())}


def find_task(intent: Intent, tasks: list[dict[str, Any]]) -> int | str:
    """The id of the one task the query names, or a reply saying none or several match.

    Deleting or changing the wrong task is worse than asking, so a tie is a question.
    When completing, tasks already done are only considered if no pending one matches. A
    past-tense verb ("I paid the electricity bill") helps: if the object alone names no task,
    the verb joins it ("pay electricity bill"), and among equal matches its title wins.
    """
    candidates = _best(intent.query, tasks)
    if not candidates and intent.verb:
        candidates = _best(f"{intent.verb} {intent.query}", tasks)
    if not candidates:
        return f"I couldn't find a task matching \"{intent.query}\", so I didn't change anything."
    if intent.action == "complete":
        pending = [t for t in candidates if not t.get("completed")]
        candidates = pending or candidates
    if len(candidates) > 1 and intent.verb:
        verb = _stem(intent.verb)
        candidates = [t for t in candidates if verb in _words(str(t["title"]))] or candidates
    if len(candidates) > 1:
        options = ", ".join(f"{t['id']}. {t.get('title', '')}" for t in candidates)
        return (
            f'More than one task matches "{intent.query}": {options}. '
            "Which one do you mean? Tell me its number."
        )
    return int(candidates[0]["id"])


def pick(ordinal: int, tasks: list[dict[str, Any]], where: str) -> int | str:
    """The id of the task at `ordinal` (1-based; negative counts from the end) of `tasks`."""
    index = ordinal - 1 if ordinal > 0 else len(tasks) + ordinal
    if 0 <= index < len(tasks):
        return int(tasks[index]["id"])
    name = _ORDINAL_NAMES.get(ordinal, f"number {ordinal}")
    if not tasks:
        return f"There is no {name} task: {where} is empty."
    noun = "task" if len(tasks) == 1 else "tasks"
    return f"There is no {name} task: {where} has {len(tasks)} {noun}. Which one do you mean?"


def _best(query: str, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tasks that `query` names best, if it names any well enough."""
    scored = [(_score(query, str(t.get("title", ""))), t) for t in tasks]
    best = max((s for s, _ in scored), default=0.0)
    return [] if best <= 0.5 else [t for s, t in scored if s == best]


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
