"""A deterministic, OpenAI-compatible chat-completions server for tests and benchmarks.

`FakeLLM` speaks the real wire protocol (JSON and SSE streaming, tool calls, usage chunks), so
the real `openai` SDK works against it unmodified::

    with FakeLLM(latency=0.0) as llm:
        client = AsyncOpenAI(base_url=llm.base_url, api_key="test")
        ...

or, for benchmarks, in the foreground: ``python -m fakellm --port 8099 --latency 2.0``.

Behaviour is driven only by the request's messages. Let ``last_user`` be the content of the last
``role: "user"`` message and ``after`` the messages following it (the current turn's assistant
tool-call messages and ``role: "tool"`` results). Directives in double square brackets inside
``last_user`` are stripped from the text before it is interpreted:

``[[latency=S]]``
    Sleep S seconds (float) before responding, on top of the server-wide ``latency``.
``[[error=STATUS]]``
    Every call answers HTTP STATUS with an OpenAI-style error body (429 adds ``Retry-After: 0``).
``[[error_times=N,STATUS]]``
    The first N calls whose ``last_user`` is this exact text answer STATUS; later ones succeed.
``[[retry_after=S]]``
    Error answers (``error``, ``error_times``) carry ``Retry-After: S`` (seconds, float).
``[[loop]]``
    Always answer with a ``list_tasks {"status": "all"}`` tool call, never text (even if that
    tool is not offered), so an agent loop runs into its step limit.
``[[tool=NAME {json args}]]``
    With no tool result in ``after`` yet, call NAME with the args; afterwards answer text.
``[[stream=N,DELAY]]``
    Answer ``"chunk1 chunk2 ... chunkN"`` as N content chunks, sleeping DELAY seconds between
    chunks (a non-streamed call waits the same total time). Combined with another directive that
    decides a text reply, that text is streamed word by word with DELAY between chunks instead.
``[[garbage]]``
    HTTP 200 whose body is neither valid JSON nor valid chat-completion SSE.
``[[latency_after_tool=S]]`` / ``[[latency_after_tool=S,N]]``
    Sleep S seconds before answering a call whose ``after`` holds a tool result (the step after
    a tool ran); with N, only the first N such calls of this exact ``last_user`` text are slowed,
    so a turn retried after a crash is not slowed again.
``[[bad_args=NAME]]``
    With no tool result in ``after`` yet, call NAME with arguments that are not valid JSON;
    afterwards answer text.

A malformed directive value (``[[latency=abc]]``) answers 400 so mistakes surface loudly.

Without a deciding directive: if ``after`` holds a tool result, answer ``"Done. ..."`` summarising
the last one (or ``"Sorry, that failed: ..."`` when it starts with "Error"); otherwise map the text
to a tool call (``add task X`` / ``remind me to X`` -> add_task, ``list/show ... tasks`` ->
list_tasks, ``complete|mark task N`` -> complete_task, ``delete task N`` -> delete_task,
``rename task N to X`` -> update_task) or answer ``"You said: <text>"``. A tool the request does not
offer in ``tools`` is never called; the reply is then ``"I cannot do that."``.
"""

from fakellm.server import FakeLLM

__all__ = ["FakeLLM"]
