"""A rule-based stand-in for a chat model, so Parley still manages todo lists without an API key.

`OfflineModel` speaks the same `ChatModel` protocol as the real model: it reads the OpenAI-style
conversation, and either asks for the next tool call or streams a final text reply. It keeps no
state between calls; every decision is derived from `messages` alone, because the agent loop may
replay a turn after a crash and must then get the same decisions (and the same tool call ids).

How one call decides:

1. The last ``user`` message is the request; the messages after it are this turn's steps so far
   (assistant tool calls and their ``tool`` results).
2. The request is interpreted into an `Intent` by a cascade of phrase rules (`interpret`).
3. Earlier turns say which list the user last saw and what they changed last (`recall`), so
   "I finished the first one" and "undo that" name a task; see recall.py for the rules.
4. The intent has a short fixed plan (at most a lookup `list_tasks` and one change); the first
   planned call not yet made is returned, else a reply is composed from the tool results.

Replayed steps whose tool result is missing count as done: a missing change is never repeated
(it may already have happened), while a missing read-only lookup is retried once.
"""

from worker.agent.offline.model import OfflineModel

__all__ = ["OfflineModel"]
