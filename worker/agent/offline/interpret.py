"""Turning one request into an `Intent` by a cascade of phrase rules."""

from __future__ import annotations

import re

from worker.agent.offline.intent import (
    HELP,
    NEED_TITLE,
    ONE_AT_A_TIME,
    WHICH_TASK,
    Action,
    Intent,
)
from worker.agent.offline.patterns import (
    ADD_PATTERNS,
    ASKING_PREFIX,
    BARE_LIST_WORDS,
    BULK,
    COMPLETE_PATTERNS,
    DELETE,
    DESCRIPTION,
    DESCRIPTION_FIELD,
    DONE_VALUE,
    DONE_WORDS,
    FIELD_WORDS,
    FILLER_PREFIX,
    FILLER_SUFFIX,
    GREETING,
    ID_REF,
    IMPLICIT_ADD,
    LIST_NOUN,
    LIST_PREFIX,
    LIST_SUFFIX,
    LIST_VERB,
    NOUN,
    ORDINAL,
    ORDINALS,
    PAST_DONE,
    PAST_VERBS,
    PENDING_WORDS,
    PRONOUN,
    QUOTES,
    REOPEN_PATTERNS,
    THANKS,
    TIME_SUFFIX,
    UNDO,
    UPDATE,
)


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
        _parse_past_done,
        _parse_implicit_add,
    )
    for parser in parsers:
        intent = parser(cleaned)
        if intent is not None:
            return intent
    return Intent("reply", text=_small_talk(text, cleaned))


def _normalise(text: str) -> str:
    """Strip politeness, fillers and trailing punctuation that carry no meaning for the rules."""
    cleaned = re.sub(r"\s+", " ", text.translate(QUOTES)).strip()
    previous = None
    while cleaned != previous:
        previous = cleaned
        cleaned = cleaned.strip().rstrip(".!?;, ")
        cleaned = FILLER_PREFIX.sub("", cleaned)
        cleaned = ASKING_PREFIX.sub("", cleaned)
        cleaned = FILLER_SUFFIX.sub("", cleaned)
    return cleaned


def _small_talk(raw: str, cleaned: str) -> str:
    """The reply for anything that is not a todo request: what this assistant can do."""
    if THANKS.match(cleaned):
        return "You're welcome! Anything else for your list?"
    if GREETING.match(raw):
        return "Hi! " + HELP
    return HELP


def _parse_add(text: str) -> Intent | None:
    """Explicit requests to add: "add ...", "create a task called ...", "remind me to ..."."""
    for pattern in ADD_PATTERNS:
        match = pattern.match(text)
        if match:
            return _add_intent(match.group("title"))
    return None


def _parse_implicit_add(text: str) -> Intent | None:
    """Statements of obligation ("I have to pay bills") are tasks worth writing down."""
    match = IMPLICIT_ADD.match(text)
    return _add_intent(match.group("title")) if match else None


def _add_intent(raw_title: str) -> Intent:
    """An add intent from the captured title, splitting off an optional description."""
    description = ""
    match = DESCRIPTION.search(raw_title)
    if match:
        description = _clean_value(match.group("desc"))
        raw_title = raw_title[: match.start()]
    title = _capitalise(_clean_value(LIST_PREFIX.sub("", LIST_SUFFIX.sub("", raw_title))))
    if not title:
        return Intent("reply", text=NEED_TITLE)
    return Intent("add", title=title, description=description)


def _parse_reopen(text: str) -> Intent | None:
    """ "Undo that", "reopen task 2", "mark it as not done": before "complete" reads them wrong."""
    if UNDO.match(text):
        return Intent("reopen", undo=True)
    for pattern in REOPEN_PATTERNS:
        match = pattern.match(text)
        if match:
            return _ref_intent("reopen", match.group("ref"))
    return None


def _parse_update(text: str) -> Intent | None:
    """ "Rename task 1 to X", "change the description of task 2 to Y"; "set task 3 to done"."""
    match = UPDATE.match(text)
    if not match:
        return None
    target, raw_value = match.group("target"), match.group("value").strip()
    value = _clean_value(raw_value)
    is_description = bool(DESCRIPTION_FIELD.search(target))
    ref = re.sub(r"'s\b", "", FIELD_WORDS.sub(" ", target)).strip()
    if DONE_VALUE.match(raw_value) and not is_description:
        return _ref_intent("complete", ref)
    if not value:
        return None
    if is_description:
        return _ref_intent("update", ref, description=value)
    return _ref_intent("update", ref, title=_capitalise(value))


def _parse_delete(text: str) -> Intent | None:
    """ "Delete task 3", "remove the task about groceries"; bulk deletes are refused."""
    match = DELETE.match(text)
    if not match:
        return None
    ref = match.group("ref").strip()
    if BULK.search(ref):
        return Intent("reply", text=ONE_AT_A_TIME)
    return _ref_intent("delete", ref)


def _parse_list(text: str) -> Intent | None:
    """Questions about the list; which words appear decide the status filter."""
    lowered = re.sub(r"\bto[- ]?do\s+(list|items?)\b", r"todo \1", text.lower())
    words = set(re.findall(r"[a-z]+", lowered))
    is_bare = bool(words) and words <= BARE_LIST_WORDS
    has_topic = bool(
        LIST_NOUN.search(lowered) or PENDING_WORDS.search(lowered) or DONE_WORDS.search(lowered)
    )
    if not has_topic or not (is_bare or LIST_VERB.match(lowered)):
        return None
    if PENDING_WORDS.search(lowered):
        return Intent("list", status="pending")
    if DONE_WORDS.search(lowered):
        return Intent("list", status="completed")
    return Intent("list", status="all")


def _parse_complete(text: str) -> Intent | None:
    """ "Mark task 3 as complete", "I finished task 3", "task 3 is done", "complete the X task"."""
    for pattern in COMPLETE_PATTERNS:
        match = pattern.match(text)
        if match:
            return _ref_intent("complete", match.group("ref"))
    return None


def _parse_past_done(text: str) -> Intent | None:
    """ "I bought the bread", "called mom yesterday": a chore reported done completes its task."""
    match = PAST_DONE.match(text)
    if not match:
        return None
    verb = PAST_VERBS[re.sub(r"\s+", " ", match.group("verb").lower())]
    ref = match.group("ref")
    while TIME_SUFFIX.search(ref):
        ref = TIME_SUFFIX.sub("", ref)
    return _ref_intent("complete", ref, verb=verb)


def _ref_intent(
    action: Action, ref: str, title: str = "", description: str = "", verb: str = ""
) -> Intent:
    """An intent about one task: by number, by place in the list, by "it", else by title words."""
    ref = re.sub(r"\s+(?:from|off|on|in)\s+(?:my|the)\s+(?:\S+\s+)?(?:list|tasks|todos)$", "", ref)
    ref = ref.strip()
    number = ID_REF.match(ref)
    if number:
        return Intent(action, task_id=int(number.group("id")), title=title, description=description)
    ordinal = ORDINAL.match(ref)
    if ordinal:
        word = re.sub(r"[\s-]+", " ", ordinal.group("word").lower())
        place = ORDINALS.get(word) or int(word[:-2])
        if not place:
            return Intent("reply", text=WHICH_TASK)
        return Intent(action, ordinal=place, title=title, description=description)
    query = _query_from(ref)
    if not query or PRONOUN.match(query) or PRONOUN.match(ref):
        # "Reopen it": the task completed last; any other "it" is too vague to act on.
        if action == "reopen":
            return Intent(action, recent=True)
        return Intent("reply", text=WHICH_TASK)
    return Intent(action, query=query, title=title, description=description, verb=verb)


def _query_from(ref: str) -> str:
    """The title words in a reference: "the task about groceries" -> "groceries"."""
    query = re.sub(r"(?<!\w)[\"'`]|[\"'`](?!\w)", "", ref.lower()).strip()
    query = re.sub(r"^(?:the|my|a|an|that|this)\s+", "", query)
    query = re.sub(
        rf"^{NOUN}\s+(?:(?:about|called|named|titled|for|regarding|that\s+says|saying|to|with|"
        r"on)\s+)?",
        "",
        query,
    )
    query = re.sub(rf"\s+(?:{NOUN}|one)$", "", query).strip()
    return "" if re.fullmatch(NOUN, query) else query


def _clean_value(raw: str) -> str:
    """A title or description as the user meant it: no wrapping quotes or stray punctuation."""
    value = raw.strip().strip(" \t,;:-")
    if len(value) >= 2 and value[0] in "\"'`" and value[-1] == value[0]:
        value = value[1:-1]
    return value.strip().rstrip(".").strip()


def _capitalise(text: str) -> str:
    """Titles read better capitalised; only the first letter changes ("iPhone" stays)."""
    return text[:1].upper() + text[1:]
