"""The phrase rules: regular expressions for each way of asking, most specific first."""

from __future__ import annotations

import re

_I = re.IGNORECASE
NOUN = r"(?:task|todo|to-do|item|entry|reminder)s?"
QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})

FILLER_PREFIX = re.compile(
    r"^(?:please|pls|plz|kindly|hey|hi|hello|ok|okay|so|um|uh|and|also|now|then|alright|"
    r"(?:can|could|would|will)\s+(?:you|u)|i(?:'d|\s+would)\s+like\s+you\s+to|"
    r"i\s+(?:want|need)\s+you\s+to|go\s+ahead\s+and|help\s+me)\b[\s,:]*",
    _I,
)
# "I need to delete task 3" is a request about the list, not a new task "Delete task 3".
ASKING_PREFIX = re.compile(
    r"^(?:i\s+(?:need|have|want|would\s+like|'d\s+like)\s+to|let\s+me|let's|lets)\s+"
    r"(?=(?:add|create|see|view|know|list|check|show|mark)\b|"
    r"(?:delete|remove|complete|finish|rename|change|update|edit)\s+"
    r"(?:the\s+|my\s+)?(?:task|todo|item|#|\d))",
    _I,
)
FILLER_SUFFIX = re.compile(r"[\s,]+(?:please|pls|plz|thanks|thank\s+you|thx|for\s+me)$", _I)
GREETING = re.compile(r"^\W*(?:hi|hello|hey|hiya|howdy|good\s+(?:morning|afternoon|evening))\b", _I)
THANKS = re.compile(
    r"^(?:thanks|thank\s+you|thx|ty|cheers|great|perfect|awesome|cool|nice)"
    r"(?:\s+(?:so\s+much|a\s+lot|again))?$",
    _I,
)

ADD_PATTERNS = (
    re.compile(
        rf"^(?:add|create|make|new|insert)\s+(?:a\s+|an\s+|another\s+|one\s+more\s+)?"
        rf"(?:new\s+)?{NOUN}\b\s*"
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
IMPLICIT_ADD = re.compile(
    r"^i(?:'ve|\s+have)?\s+(?:really\s+|still\s+|also\s+)?"
    r"(?:(?:need|have|got|ought)\s+to|must|should|gotta)\s+(?P<title>.+)$",
    _I,
)
DESCRIPTION = re.compile(
    r"(?:\s*[,;]\s*|\s+)(?:with\s+(?:a\s+|the\s+)?(?:description|details|notes?)"
    r"|(?:description|details|notes?)\s*:)\s*:?\s*(?P<desc>.+)$",
    _I,
)
LIST_SUFFIX = re.compile(
    r"\s+(?:to|on|onto|in|into)\s+(?:my|the)\s+(?:todo\s+|to-do\s+|to\s+do\s+|task\s+)?"
    r"(?:list|tasks|todos|to-dos)$",
    _I,
)
LIST_PREFIX = re.compile(
    r"^(?:to\s+)?(?:my|the)\s+(?:todo\s+|to-do\s+|task\s+)?list\b(?:\s*[:\-]\s*|$)", _I
)

_NOT_DONE = (
    r"(?:not\s+(?:yet\s+)?(?:done|complete|completed|finished)|incomplete|uncompleted|"
    r"unfinished|undone|pending|open|to\s+do)"
)
UNDO = re.compile(
    r"^(?:(?:oops|whoops|oh\s+no|wait)[\s,!]*)?(?:undo|revert|reverse)(?:\s+(?:that|this|it|"
    r"the\s+last\s+(?:one|change|thing|action)|my\s+last\s+(?:change|action)|last))?$",
    _I,
)
REOPEN_PATTERNS = (
    re.compile(
        rf"^(?:mark|set|flag|change|put)\s+(?P<ref>.+?)\s+(?:as\s+|to\s+|back\s+(?:to\s+)?)?"
        rf"{_NOT_DONE}(?:\s+again)?$",
        _I,
    ),
    re.compile(
        r"^(?:reopen|re-open|uncomplete|un-complete|unmark|uncheck|untick|undo)\s+(?P<ref>.+?)"
        r"(?:\s+again)?$",
        _I,
    ),
)
UPDATE = re.compile(
    r"^(?:change|rename|update|edit|modify|set|retitle)\s+(?P<target>.+?)"
    r"(?:\s+(?:to|as|into)\s+|\s*:\s*|\s*=\s*)(?P<value>.+)$",
    _I,
)
FIELD_WORDS = re.compile(
    r"\b(?:the\s+)?(?:title|name|description|desc|details|notes?|text)\b(?:\s+(?:of|for))?", _I
)
DESCRIPTION_FIELD = re.compile(r"\b(?:description|desc|details|notes?)\b", _I)
DONE_VALUE = re.compile(r"^(?:done|complete|completed|finished)$", _I)

DELETE = re.compile(
    r"^(?:delete|remove|erase|drop|trash|cancel|scrap|discard|get\s+rid\s+of|take)\s+"
    r"(?P<ref>.+?)(?:\s+(?:from|off)\s+(?:my|the)\s+(?:\S+\s+)?(?:list|tasks|todos))?$",
    _I,
)
BULK = re.compile(r"^(?:all|every|everything)\b|\b(?:tasks|todos|items)$", _I)

COMPLETE_PATTERNS = (
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

LIST_VERB = re.compile(
    r"^(?:show|list|display|view|see|get(?!\s+rid)|give|tell|what|whats|which|how\s+many|"
    r"do\s+i\s+have|have\s+i|did\s+i|are\s+there|is\s+there|any|anything|check(?!\s+off)|"
    r"read|print|remind\s+me)\b",
    _I,
)
LIST_NOUN = re.compile(
    r"\b(?:tasks?|todos?|to-?dos?|list|items?|everything|agenda|reminders?)\b", _I
)
PENDING_WORDS = re.compile(
    r"\b(?:pending|incomplete|uncompleted|unfinished|undone|open|outstanding|remaining|left|"
    r"still|unchecked)\b|(?:\bnot|n't)\s+(?:yet\s+)?(?:done|complete|completed|finished)\b|"
    r"\bto\s+do\b",
    _I,
)
DONE_WORDS = re.compile(
    r"\b(?:completed|complete|done|finished|accomplished|achieved|checked\s+off|ticked\s+off)\b",
    _I,
)
BARE_LIST_WORDS = frozenset(
    "all of my the current tasks task todos todo list pending open completed done finished "
    "remaining outstanding incomplete unfinished".split()
)

ID_REF = re.compile(
    r"^(?:the\s+|my\s+)?(?:(?:task|todo|to-do|item)\s*)?(?:(?:number|no\.?|num)\s*)?#?\s*"
    r"(?P<id>\d+)(?:\s+(?:task|todo|item))?$",
    _I,
)
ORDINALS = {
    "first": 1, "1st": 1, "top": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3,
    "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10,
    "last": -1, "final": -1, "bottom": -1, "second to last": -2, "second-to-last": -2,
    "penultimate": -2,
}  # fmt: skip
ORDINAL = re.compile(
    r"^(?:the\s+|my\s+)?(?:very\s+)?(?P<word>second[\s-]+to[\s-]+last|penultimate|first|"
    r"second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|last|final|top|bottom|"
    r"\d+(?:st|nd|rd|th))(?:\s+(?:one|task|todo|to-do|item|entry))?"
    r"(?:\s+(?:on|in|from|of)\s+(?:the|my|that|this)\s+(?:\S+\s+)?(?:list|tasks))?$",
    _I,
)
# "I bought the bread": a chore said done in the past tense, mapped to the verb a title uses.
PAST_VERBS = {
    "bought": "buy", "called": "call", "phoned": "call", "rang": "call", "texted": "text",
    "emailed": "email", "mailed": "mail", "posted": "post", "sent": "send", "paid": "pay",
    "cleaned": "clean", "washed": "wash", "tidied": "tidy", "vacuumed": "vacuum",
    "cooked": "cook", "made": "make", "baked": "bake", "fixed": "fix", "repaired": "repair",
    "booked": "book", "scheduled": "schedule", "ordered": "order", "picked up": "pick up",
    "dropped off": "drop off", "took out": "take out", "took": "take", "got": "get",
    "fetched": "fetch", "returned": "return", "renewed": "renew", "submitted": "submit",
    "filed": "file", "signed": "sign", "wrote": "write", "visited": "visit", "met": "meet",
    "walked": "walk", "fed": "feed", "watered": "water", "mowed": "mow", "packed": "pack",
    "prepared": "prepare", "practiced": "practice", "practised": "practice", "studied": "study",
    "replied to": "reply to", "answered": "answer", "contacted": "contact",
    "messaged": "message", "sorted": "sort", "organized": "organize", "organised": "organize",
    "cancelled": "cancel", "canceled": "cancel", "attended": "attend", "reviewed": "review",
    "printed": "print", "shipped": "ship", "collected": "collect", "delivered": "deliver",
    "brought": "bring", "gave": "give", "sold": "sell", "installed": "install",
    "uploaded": "upload", "backed up": "back up", "charged": "charge", "refilled": "refill",
}  # fmt: skip
PAST_DONE = re.compile(
    r"^(?:(?:i|we)(?:'ve|\s+have)?\s+)?(?:just\s+|already\s+|finally\s+|now\s+)?"
    r"(?P<verb>"
    + "|".join(v.replace(" ", r"\s+") for v in sorted(PAST_VERBS, key=len, reverse=True))
    + r")\s+(?!to\b)(?P<ref>.+)$",
    _I,
)
TIME_SUFFIX = re.compile(
    r"\s+(?:today|yesterday|this\s+(?:morning|afternoon|evening|week)|last\s+night|earlier|"
    r"already|just\s+now|finally|at\s+last|after\s+all|again)$",
    _I,
)
PRONOUN = re.compile(r"^(?:it|that|this|that\s+one|this\s+one|them|those|these)$", _I)
