"""A rule-based stand-in for a chat model, so Parley still manages todo lists without an API key.

`OfflineModel` speaks the same `ChatModel` protocol as the real model: it reads the OpenAI-style
conversation, and either asks for the next tool call or streams a final text reply. It keeps no
state between calls; every decision is derived from `messages` alone, because the agent loop may
replay a turn after a crash and must then get the same decisions (and the same tool call ids).

How one call decides:

1. The last ``user`` message is the request; the messages after it are this turn's steps so far
   (assistant tool calls and their ``tool`` results).
2. The request is interpreted into an `Intent` by a cascade of phrase rules (`interpret`).
3. The intent has a short fixed plan (at most a lookup `list_tasks` and one change); the first
   planned call not yet made is returned, else a reply is composed from the tool results.

Replayed steps whose tool result is missing count as done: a missing change is never repeated
(it may already have happened), while a missing read-only lookup is retried once.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from worker.agent.model import (
    ChatMessage,
    DeltaCallback,
    ModelReply,
    RequestedToolCall,
    ToolSpec,
    Usage,
)

__all__ = ["Intent", "OfflineModel", "interpret"]

Action = Literal["add", "list", "complete", "delete", "update", "reply"]
Status = Literal["all", "pending", "completed"]

HELP = (
    "I'm Parley's offline assistant: I follow simple rules rather than an AI model, so I "
    'understand plain todo requests. Try: "Add a task to buy groceries", "Show my tasks", '
    '"What\'s pending?", "Mark task 3 as complete", "Delete the meeting task", or '
    '"Rename task 1 to Call mom".'
)
WHICH_TASK = 'Which task do you mean? Tell me its number (like "task 3") or part of its title.'
NEED_TITLE = 'What should the task say? For example: "Add a task to buy groceries".'
NO_REOPEN = "Sorry, I can't reopen tasks. I can add, list, complete, rename and delete them."
ONE_AT_A_TIME = 'I can only delete one task at a time. Tell me which one, like "delete task 3".'
# A read-only lookup whose result went missing on replay is asked for at most this many times.
MAX_LOOKUPS = 2

_TOOL_FOR: dict[str, str] = {
    "add": "add_task",
    "list": "list_tasks",
    "complete": "complete_task",
    "delete": "delete_task",
    "update": "update_task",
}
# What we tried to do, for "Sorry, I couldn't <verb> task 3" style replies.
_VERB_FOR: dict[str, str] = {
    "complete": "mark as complete",
    "delete": "delete",
    "update": "update",
}


@dataclass(frozen=True)
class Intent:
    """What the user asked for, reduced to the fields the plan needs.

    A task is referred to either by `task_id` or, failing a number, by `query` (words of its
    title). For ``update``, a non-empty `title` and/or `description` are the new values. For
    ``reply``, `text` is the finished answer and no tool is involved.
    """

    action: Action
    task_id: int | None = None
    query: str = ""
    title: str = ""
    description: str = ""
    status: Status = "all"
    text: str = ""


@dataclass(frozen=True)
class _Step:
    """One tool call made earlier in this turn; `result` is None when its result is missing."""

    name: str
    arguments: dict[str, Any]
    result: str | None


@dataclass(frozen=True)
class _Turn:
    """The current request and what has been done for it so far."""

    number: int
    request: str
    steps: tuple[_Step, ...]


@dataclass(frozen=True)
class _Call:
    """A tool call the plan wants next; its id is assigned from the turn when it is emitted."""

    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class _Outcome:
    """A tool result read back: parsed JSON `data` when `ok`, else a human-readable `error`."""

    ok: bool
    data: Any = None
    error: str = ""


class OfflineModel:
    """The `ChatModel` used when no OpenAI key is configured: rules in, real tool calls out."""

    name: str = "offline-rules"
    offline: bool = True

    async def complete(
        self, messages: list[ChatMessage], tools: list[ToolSpec], on_delta: DeltaCallback
    ) -> ModelReply:
        """Answer with the next planned tool call, or stream the final reply word by word."""
        turn = _current_turn(messages)
        decision = _plan(interpret(turn.request), turn.steps, _offered(tools))
        if isinstance(decision, _Call):
            call = RequestedToolCall(
                id=_call_id(turn, len(turn.steps)),
                name=decision.name,
                arguments=json.dumps(decision.arguments),
            )
            return ModelReply(content="", tool_calls=[call], usage=Usage())
        for chunk in _chunks(decision):
            await on_delta(chunk)
        return ModelReply(content=decision, usage=Usage())


# --- reading the conversation -------------------------------------------------------------


def _current_turn(messages: list[ChatMessage]) -> _Turn:
    """Split the conversation at the last user message: earlier turns play no part."""
    user_positions = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    if not user_positions:
        return _Turn(number=0, request="", steps=())
    last = user_positions[-1]
    return _Turn(
        number=len(user_positions),
        request=_text_of(messages[last].get("content")),
        steps=_steps(messages[last + 1 :]),
    )


def _text_of(content: Any) -> str:
    """Message content as plain text, whether a string or a list of OpenAI content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, dict)]
        return " ".join(p for p in parts if isinstance(p, str))
    return ""


def _steps(after: list[ChatMessage]) -> tuple[_Step, ...]:
    """Pair every assistant tool call of this turn with its tool result, if one came back."""
    results = {
        m.get("tool_call_id"): _text_of(m.get("content")) for m in after if m.get("role") == "tool"
    }
    steps: list[_Step] = []
    for message in after:
        if message.get("role") != "assistant":
            continue
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            steps.append(
                _Step(
                    name=str(function.get("name", "")),
                    arguments=_json_object(function.get("arguments")),
                    result=results.get(call.get("id")),
                )
            )
    return tuple(steps)


def _json_object(raw: Any) -> dict[str, Any]:
    """Tool-call arguments as a dict; anything unparsable counts as no arguments."""
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _offered(tools: list[ToolSpec]) -> frozenset[str]:
    """Names of the tools this request offers: the model must never call anything else."""
    names = (t.get("function", {}).get("name") for t in tools if isinstance(t, dict))
    return frozenset(n for n in names if isinstance(n, str))


def _call_id(turn: _Turn, step: int) -> str:
    """A tool call id that a replay of the same turn reproduces exactly."""
    seed = f"{turn.number}\x1f{turn.request}\x1f{step}".encode()
    return "call_" + hashlib.sha256(seed).hexdigest()[:12]


def _chunks(text: str) -> list[str]:
    """Word-sized pieces of `text` whose concatenation is exactly `text`."""
    return re.findall(r"\S+\s*|\s+", text)


# --- interpreting the request -------------------------------------------------------------

_I = re.IGNORECASE
_NOUN = r"(?:task|todo|to-do|item|entry|reminder)s?"
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})

_FILLER_PREFIX = re.compile(
    r"^(?:please|pls|plz|kindly|hey|hi|hello|ok|okay|so|um|uh|and|also|now|then|alright|"
    r"(?:can|could|would|will)\s+(?:you|u)|i(?:'d|\s+would)\s+like\s+you\s+to|"
    r"i\s+(?:want|need)\s+you\s+to|go\s+ahead\s+and|help\s+me)\b[\s,:]*",
    _I,
)
# "I need to delete task 3" is a request about the list, not a new task "Delete task 3".
_ASKING_PREFIX = re.compile(
    r"^(?:i\s+(?:need|have|want|would\s+like|'d\s+like)\s+to|let\s+me|let's|lets)\s+"
    r"(?=(?:add|create|see|view|know|list|check|show|mark)\b|"
    r"(?:delete|remove|complete|finish|rename|change|update|edit)\s+"
    r"(?:the\s+|my\s+)?(?:task|todo|item|#|\d))",
    _I,
)
_FILLER_SUFFIX = re.compile(r"[\s,]+(?:please|pls|plz|thanks|thank\s+you|thx|for\s+me)$", _I)
_GREETING = re.compile(
    r"^\W*(?:hi|hello|hey|hiya|howdy|good\s+(?:morning|afternoon|evening))\b", _I
)
_THANKS = re.compile(
    r"^(?:thanks|thank\s+you|thx|ty|cheers|great|perfect|awesome|cool|nice)"
    r"(?:\s+(?:so\s+much|a\s+lot|again))?$",
    _I,
)

_ADD_PATTERNS = (
    re.compile(
        rf"^(?:add|create|make|new|insert)\s+(?:a\s+|an\s+|another\s+|one\s+more\s+)?"
        rf"(?:new\s+)?{_NOUN}\b\s*"
        r"(?:(?:called|named|titled|saying|that\s+says|to|for|about|:|-)(?:\s+|$))?(?P<title>.*)$",
        _I,
    ),
    re.compile(r"^set\s+(?:a\s+|an\s+)?reminder\s+(?:to|for|about)\s+(?P<title>.+)$", _I),
    re.compile(r"^add\s+(?P<title>.+)$", _I),
    re.compile(r"^put\s+(?P<title>.+?)\s+(?:on|in|onto)\s+(?:my|the)\s+(?:\S+\s+)?list$", _I),
    re.compile(
        r"^remind\s+me\s+(?:to|about|that(?:\s+i\s+(?:need|have)\s+to)?)\s+(?P<title>.+)$", _I
    ),
    re.compile(
        r"^(?:i\s+|i've\s+|i'll\s+)?(?:(?:really\s+)?(?:need|have|must|should|want|got|gotta|"
        r"better)\s+(?:got\s+)?(?:to\s+)?)?(?:remember|not\s+forget)\s+to\s+(?P<title>.+)$",
        _I,
    ),
    re.compile(
        r"^(?:don't|do\s+not|dont)\s+(?:let\s+me\s+)?forget\s+(?:to\s+|about\s+|:\s*)?"
        r"(?P<title>.+)$",
        _I,
    ),
    re.compile(r"^(?:note\s+to\s+self|todo|to-do|reminder)\s*:\s*(?P<title>.+)$", _I),
)
_IMPLICIT_ADD = re.compile(
    r"^i(?:'ve|\s+have)?\s+(?:really\s+|still\s+|also\s+)?"
    r"(?:(?:need|have|got|ought)\s+to|must|should|gotta)\s+(?P<title>.+)$",
    _I,
)
_DESCRIPTION = re.compile(
    r"(?:\s*[,;]\s*|\s+)(?:with\s+(?:a\s+|the\s+)?(?:description|details|notes?)"
    r"|(?:description|details|notes?)\s*:)\s*:?\s*(?P<desc>.+)$",
    _I,
)
_LIST_SUFFIX = re.compile(
    r"\s+(?:to|on|onto|in|into)\s+(?:my|the)\s+(?:todo\s+|to-do\s+|to\s+do\s+|task\s+)?"
    r"(?:list|tasks|todos|to-dos)$",
    _I,
)
_LIST_PREFIX = re.compile(
    r"^(?:to\s+)?(?:my|the)\s+(?:todo\s+|to-do\s+|task\s+)?list\b(?:\s*[:\-]\s*|$)", _I
)

_REOPEN = re.compile(
    r"^(?:(?:mark|set|flag|change)\s+.+?\s+(?:as\s+|to\s+|back\s+to\s+)?"
    r"(?:not\s+(?:yet\s+)?(?:done|complete|completed|finished)|incomplete|uncompleted|"
    r"unfinished|undone|pending)|(?:reopen|uncomplete|unmark|undo)\b.*)$",
    _I,
)
_UPDATE = re.compile(
    r"^(?:change|rename|update|edit|modify|set|retitle)\s+(?P<target>.+?)"
    r"(?:\s+(?:to|as|into)\s+|\s*:\s*|\s*=\s*)(?P<value>.+)$",
    _I,
)
_FIELD_WORDS = re.compile(
    r"\b(?:the\s+)?(?:title|name|description|desc|details|notes?|text)\b(?:\s+(?:of|for))?", _I
)
_DESCRIPTION_FIELD = re.compile(r"\b(?:description|desc|details|notes?)\b", _I)
_DONE_VALUE = re.compile(r"^(?:done|complete|completed|finished)$", _I)

_DELETE = re.compile(
    r"^(?:delete|remove|erase|drop|trash|cancel|scrap|discard|get\s+rid\s+of|take)\s+"
    r"(?P<ref>.+?)(?:\s+(?:from|off)\s+(?:my|the)\s+(?:\S+\s+)?(?:list|tasks|todos))?$",
    _I,
)
_BULK = re.compile(r"^(?:all|every|everything)\b|\b(?:tasks|todos|items)$", _I)

_COMPLETE_PATTERNS = (
    re.compile(
        r"^(?:mark|set|flag|tick|check)\s+(?P<ref>.+?)\s+(?:as\s+|to\s+)?"
        r"(?:complete|completed|done|finished)$",
        _I,
    ),
    re.compile(
        r"^(?:complete|finish|close|check\s+off|tick\s+off|cross\s+off|strike)\s+(?P<ref>.+)$",
        _I,
    ),
    re.compile(r"^(?:check|tick|cross)\s+(?P<ref>.+?)\s+off$", _I),
    re.compile(
        r"^(?:i\s+|i've\s+|i\s+have\s+)?(?:just\s+|already\s+)?(?:finished|completed|did|done)"
        r"\s+(?:with\s+)?(?P<ref>.+)$",
        _I,
    ),
    re.compile(r"^(?:i'm|im|i\s+am)\s+(?:all\s+)?(?:done|finished)\s+with\s+(?P<ref>.+)$", _I),
    re.compile(
        r"^(?P<ref>.+?)\s+(?:is|are|has\s+been|was)\s+(?:now\s+|all\s+)?"
        r"(?:complete|completed|done|finished)$",
        _I,
    ),
)

_LIST_VERB = re.compile(
    r"^(?:show|list|display|view|see|get(?!\s+rid)|give|tell|what|whats|which|how\s+many|"
    r"do\s+i\s+have|have\s+i|did\s+i|are\s+there|is\s+there|any|anything|check(?!\s+off)|"
    r"read|print|remind\s+me)\b",
    _I,
)
_LIST_NOUN = re.compile(
    r"\b(?:tasks?|todos?|to-?dos?|list|items?|everything|agenda|reminders?)\b", _I
)
_PENDING_WORDS = re.compile(
    r"\b(?:pending|incomplete|uncompleted|unfinished|undone|open|outstanding|remaining|left|"
    r"still|unchecked)\b|(?:\bnot|n't)\s+(?:yet\s+)?(?:done|complete|completed|finished)\b|"
    r"\bto\s+do\b",
    _I,
)
_DONE_WORDS = re.compile(
    r"\b(?:completed|complete|done|finished|accomplished|achieved|checked\s+off|ticked\s+off)\b",
    _I,
)
_BARE_LIST_WORDS = frozenset(
    "all of my the current tasks task todos todo list pending open completed done finished "
    "remaining outstanding incomplete unfinished".split()
)

_ID_REF = re.compile(
    r"^(?:the\s+|my\s+)?(?:(?:task|todo|to-do|item)\s*)?(?:(?:number|no\.?|num)\s*)?#?\s*"
    r"(?P<id>\d+)(?:\s+(?:task|todo|item))?$",
    _I,
)
_PRONOUN = re.compile(r"^(?:it|that|this|that\s+one|this\s+one|them|those|these)$", _I)


def interpret(text: str) -> Intent:
    """Turn one user request into an `Intent`, trying the most specific phrasings first.

    Order matters: explicit "add ..." wins over everything (its title may say "complete"),
    list questions are recognised before "... is done" (so "what is done?" lists), and the
    loose "I have to ..." form of adding comes last.
    """
    # A request typed in all caps is shouting, not a title the user wants kept in capitals.
    cleaned = _normalise(text.lower() if text.isupper() else text)
    parsers = (
        _parse_add,
        _parse_reopen,
        _parse_update,
        _parse_delete,
        _parse_list,
        _parse_complete,
        _parse_implicit_add,
    )
    for parser in parsers:
        intent = parser(cleaned)
        if intent is not None:
            return intent
    return Intent("reply", text=_small_talk(text, cleaned))


def _normalise(text: str) -> str:
    """Strip politeness, fillers and trailing punctuation that carry no meaning for the rules."""
    cleaned = re.sub(r"\s+", " ", text.translate(_QUOTES)).strip()
    previous = None
    while cleaned != previous:
        previous = cleaned
        cleaned = cleaned.strip().rstrip(".!?;, ")
        cleaned = _FILLER_PREFIX.sub("", cleaned)
        cleaned = _ASKING_PREFIX.sub("", cleaned)
        cleaned = _FILLER_SUFFIX.sub("", cleaned)
    return cleaned


def _small_talk(raw: str, cleaned: str) -> str:
    """The reply for anything that is not a todo request: what this assistant can do."""
    if _THANKS.match(cleaned):
        return "You're welcome! Anything else for your list?"
    if _GREETING.match(raw):
        return "Hi! " + HELP
    return HELP


def _parse_add(text: str) -> Intent | None:
    """Explicit requests to add: "add ...", "create a task called ...", "remind me to ..."."""
    for pattern in _ADD_PATTERNS:
        match = pattern.match(text)
        if match:
            return _add_intent(match.group("title"))
    return None


def _parse_implicit_add(text: str) -> Intent | None:
    """Statements of obligation ("I have to pay bills") are tasks worth writing down."""
    match = _IMPLICIT_ADD.match(text)
    return _add_intent(match.group("title")) if match else None


def _add_intent(raw_title: str) -> Intent:
    """An add intent from the captured title, splitting off an optional description."""
    description = ""
    match = _DESCRIPTION.search(raw_title)
    if match:
        description = _clean_value(match.group("desc"))
        raw_title = raw_title[: match.start()]
    title = _capitalise(_clean_value(_LIST_PREFIX.sub("", _LIST_SUFFIX.sub("", raw_title))))
    if not title:
        return Intent("reply", text=NEED_TITLE)
    return Intent("add", title=title, description=description)


def _parse_reopen(text: str) -> Intent | None:
    """Un-completing is not a tool we have; say so rather than misreading it as "complete"."""
    return Intent("reply", text=NO_REOPEN) if _REOPEN.match(text) else None


def _parse_update(text: str) -> Intent | None:
    """ "Rename task 1 to X", "change the description of task 2 to Y"; "set task 3 to done"."""
    match = _UPDATE.match(text)
    if not match:
        return None
    target, raw_value = match.group("target"), match.group("value").strip()
    value = _clean_value(raw_value)
    is_description = bool(_DESCRIPTION_FIELD.search(target))
    ref = re.sub(r"'s\b", "", _FIELD_WORDS.sub(" ", target)).strip()
    if _DONE_VALUE.match(raw_value) and not is_description:
        return _ref_intent("complete", ref)
    if not value:
        return None
    if is_description:
        return _ref_intent("update", ref, description=value)
    return _ref_intent("update", ref, title=_capitalise(value))


def _parse_delete(text: str) -> Intent | None:
    """ "Delete task 3", "remove the task about groceries"; bulk deletes are refused."""
    match = _DELETE.match(text)
    if not match:
        return None
    ref = match.group("ref").strip()
    if _BULK.search(ref):
        return Intent("reply", text=ONE_AT_A_TIME)
    return _ref_intent("delete", ref)


def _parse_list(text: str) -> Intent | None:
    """Questions about the list; which words appear decide the status filter."""
    lowered = re.sub(r"\bto[- ]?do\s+(list|items?)\b", r"todo \1", text.lower())
    words = set(re.findall(r"[a-z]+", lowered))
    is_bare = bool(words) and words <= _BARE_LIST_WORDS
    has_topic = bool(
        _LIST_NOUN.search(lowered) or _PENDING_WORDS.search(lowered) or _DONE_WORDS.search(lowered)
    )
    if not has_topic or not (is_bare or _LIST_VERB.match(lowered)):
        return None
    if _PENDING_WORDS.search(lowered):
        return Intent("list", status="pending")
    if _DONE_WORDS.search(lowered):
        return Intent("list", status="completed")
    return Intent("list", status="all")


def _parse_complete(text: str) -> Intent | None:
    """ "Mark task 3 as complete", "I finished task 3", "task 3 is done", "complete the X task"."""
    for pattern in _COMPLETE_PATTERNS:
        match = pattern.match(text)
        if match:
            return _ref_intent("complete", match.group("ref"))
    return None


def _ref_intent(action: Action, ref: str, title: str = "", description: str = "") -> Intent:
    """An intent about one task, referred to by number or, failing that, by title words."""
    ref = re.sub(r"\s+(?:from|off|on|in)\s+(?:my|the)\s+(?:\S+\s+)?(?:list|tasks|todos)$", "", ref)
    ref = ref.strip()
    number = _ID_REF.match(ref)
    if number:
        return Intent(action, task_id=int(number.group("id")), title=title, description=description)
    query = _query_from(ref)
    if not query or _PRONOUN.match(query):
        return Intent("reply", text=WHICH_TASK)
    return Intent(action, query=query, title=title, description=description)


def _query_from(ref: str) -> str:
    """The title words in a reference: "the task about groceries" -> "groceries"."""
    query = re.sub(r"(?<!\w)[\"'`]|[\"'`](?!\w)", "", ref.lower()).strip()
    query = re.sub(r"^(?:the|my|a|an|that|this)\s+", "", query)
    query = re.sub(
        rf"^{_NOUN}\s+(?:(?:about|called|named|titled|for|regarding|that\s+says|saying|to|with|"
        r"on)\s+)?",
        "",
        query,
    )
    query = re.sub(rf"\s+(?:{_NOUN}|one)$", "", query).strip()
    return "" if re.fullmatch(_NOUN, query) else query


def _clean_value(raw: str) -> str:
    """A title or description as the user meant it: no wrapping quotes or stray punctuation."""
    value = raw.strip().strip(" \t,;:-")
    if len(value) >= 2 and value[0] in "\"'`" and value[-1] == value[0]:
        value = value[1:-1]
    return value.strip().rstrip(".").strip()


def _capitalise(text: str) -> str:
    """Titles read better capitalised; only the first letter changes ("iPhone" stays)."""
    return text[:1].upper() + text[1:]


# --- planning -----------------------------------------------------------------------------


def _plan(intent: Intent, steps: tuple[_Step, ...], offered: frozenset[str]) -> _Call | str:
    """The next tool call this intent still needs, or the final reply once it needs none."""
    if intent.action == "reply":
        return intent.text
    tool = _TOOL_FOR[intent.action]
    if tool not in offered:
        return f"Sorry, I can't do that right now: the {tool} tool isn't available."
    if intent.action == "add":
        return _plan_add(intent, steps)
    if intent.action == "list":
        return _plan_list(intent, steps)
    return _plan_change(intent, steps, offered)


def _last(steps: tuple[_Step, ...], name: str) -> _Step | None:
    """The most recent call of `name` in this turn, if any."""
    return next((s for s in reversed(steps) if s.name == name), None)


def _plan_add(intent: Intent, steps: tuple[_Step, ...]) -> _Call | str:
    """Add once; never again in the same turn, even if the result went missing."""
    done = _last(steps, "add_task")
    if done is not None:
        return _reply_add(intent, done)
    arguments: dict[str, Any] = {"title": intent.title}
    if intent.description:
        arguments["description"] = intent.description
    return _Call("add_task", arguments)


def _plan_list(intent: Intent, steps: tuple[_Step, ...]) -> _Call | str:
    """List with the asked-for filter, then describe what came back."""
    fetched = _fetch(steps, intent.status)
    if isinstance(fetched, _Call):
        return fetched
    if not fetched.ok:
        return f"Sorry, I couldn't fetch your tasks: {fetched.error}."
    return _reply_list(intent.status, _tasks_from(fetched.data))


def _plan_change(intent: Intent, steps: tuple[_Step, ...], offered: frozenset[str]) -> _Call | str:
    """Complete, delete or update one task, first looking it up by title if no number was given."""
    tool = _TOOL_FOR[intent.action]
    done = _last(steps, tool)
    if done is not None:
        return _reply_change(intent, done)
    if intent.task_id is not None:
        return _Call(tool, _change_arguments(intent, intent.task_id))
    if "list_tasks" not in offered:
        return WHICH_TASK
    fetched = _fetch(steps, "all")
    if isinstance(fetched, _Call):
        return fetched
    if not fetched.ok:
        return f"Sorry, I couldn't look up your tasks: {fetched.error}."
    found = _find_task(intent, _tasks_from(fetched.data))
    if isinstance(found, str):
        return found
    return _Call(tool, _change_arguments(intent, found))


def _fetch(steps: tuple[_Step, ...], status: Status) -> _Call | _Outcome:
    """The latest list_tasks result of this turn, or the call to get one.

    Listing is read-only, so a lookup whose result went missing on replay is safe to repeat,
    but only `MAX_LOOKUPS` times in all so a turn can never loop.
    """
    lookups = [s for s in steps if s.name == "list_tasks"]
    answered = [s for s in lookups if s.result is not None]
    if answered:
        return _read(answered[-1].result)
    if len(lookups) < MAX_LOOKUPS:
        return _Call("list_tasks", {"status": status})
    return _Outcome(ok=False, error="no result came back from list_tasks")


def _change_arguments(intent: Intent, task_id: int) -> dict[str, Any]:
    """Arguments for complete/delete/update_task; update carries only the fields being changed."""
    arguments: dict[str, Any] = {"task_id": task_id}
    if intent.action == "update":
        if intent.title:
            arguments["title"] = intent.title
        if intent.description:
            arguments["description"] = intent.description
    return arguments


def _read(result: str | None) -> _Outcome:
    """Classify a tool result: JSON data, or an error ("Error ...", "... not found")."""
    text = (result or "").strip()
    if text.lower().startswith("error"):
        return _Outcome(ok=False, error=_error_detail(text))
    try:
        data = json.loads(text)
    except ValueError:
        if "not found" in text.lower():
            return _Outcome(ok=False, error=text)
        return _Outcome(ok=True, data=text)
    if isinstance(data, dict) and data.get("error"):
        return _Outcome(ok=False, error=str(data["error"]))
    return _Outcome(ok=True, data=data)


def _error_detail(text: str) -> str:
    """The useful part of "Error executing tool complete_task: task 9 not found"."""
    match = re.match(r"error(?:\s+executing\s+tool\s+\S+)?\s*:\s*(?P<detail>.+)$", text, _I | re.S)
    detail = match.group("detail") if match else text
    return detail.strip().rstrip(".")


def _tasks_from(data: Any) -> list[dict[str, Any]]:
    """The task dicts of a list_tasks result (a bare list, or an object with a "tasks" list)."""
    if isinstance(data, dict):
        data = data.get("tasks")
    if not isinstance(data, list):
        return []
    # Task numbers are what users type, so a task without a numeric id cannot be referred to.
    return [t for t in data if isinstance(t, dict) and str(t.get("id", "")).isdigit()]


# --- matching a task by its title ---------------------------------------------------------

_STOPWORDS = frozenset("the a an my to for of and on in at with about task tasks".split())


def _find_task(intent: Intent, tasks: list[dict[str, Any]]) -> int | str:
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


# --- replies ------------------------------------------------------------------------------


def _reply_add(intent: Intent, step: _Step) -> str:
    """Confirm the new task with its number, or say why it could not be added."""
    title = str(step.arguments.get("title") or intent.title)
    if step.result is None:
        return f'I asked to add "{title}", but no confirmation came back; check your list.'
    outcome = _read(step.result)
    if not outcome.ok:
        return f'Sorry, I couldn\'t add "{title}": {outcome.error}.'
    data = outcome.data if isinstance(outcome.data, dict) else {}
    title = str(data.get("title") or title)
    task_id = data.get("task_id")
    where = f" (task {task_id})" if task_id is not None else ""
    return f'I\'ve added "{title}" to your tasks{where}.'


def _reply_list(status: Status, tasks: list[dict[str, Any]]) -> str:
    """Describe the tasks in one sentence, filtering locally in case the tool ignored status."""
    if status != "all":
        tasks = [t for t in tasks if bool(t.get("completed")) == (status == "completed")]
    if not tasks:
        return {
            "all": 'You have no tasks yet. Say "add a task to ..." to create one.',
            "pending": "You have no pending tasks.",
            "completed": "You have no completed tasks yet.",
        }[status]
    label = "" if status == "all" else f"{status} "
    noun = "task" if len(tasks) == 1 else "tasks"
    items = ", ".join(_describe(t, with_state=status == "all") for t in tasks)
    return f"You have {len(tasks)} {label}{noun}: {items}."


def _describe(task: dict[str, Any], with_state: bool) -> str:
    """ "3. Buy milk (pending)": the number is the task id, which later requests refer to."""
    text = f"{task['id']}. {task.get('title', '')}"
    if with_state:
        text += " (done)" if task.get("completed") else " (pending)"
    return text


def _reply_change(intent: Intent, step: _Step) -> str:
    """Confirm a complete/delete/update, or report plainly why it failed."""
    task_id = step.arguments.get("task_id", intent.task_id)
    verb = _VERB_FOR[intent.action]
    if step.result is None:
        return f"I asked to {verb} task {task_id}, but no confirmation came back; check your list."
    outcome = _read(step.result)
    if not outcome.ok:
        if "not found" in outcome.error.lower():
            return f"I couldn't find task {task_id}."
        return f"Sorry, I couldn't {verb} task {task_id}: {outcome.error}."
    data = outcome.data if isinstance(outcome.data, dict) else {}
    task_id = data.get("task_id", task_id)
    return _confirmation(intent, step, task_id, str(data.get("title") or ""))


def _confirmation(intent: Intent, step: _Step, task_id: Any, title: str) -> str:
    """The success sentence for a change, quoting the task's title when we know it."""
    named = f' "{title}"' if title else ""
    if intent.action == "complete":
        return f"Marked task {task_id}{named} as complete."
    if intent.action == "delete":
        return f"Deleted task {task_id}{named}."
    new_title = str(step.arguments.get("title") or "")
    description = str(step.arguments.get("description") or "")
    if new_title and description:
        return f'Updated task {task_id} to "{new_title}" with description "{description}".'
    if description:
        return f'Updated the description of task {task_id}{named} to "{description}".'
    return f'Updated task {task_id} to "{new_title or title}".'
