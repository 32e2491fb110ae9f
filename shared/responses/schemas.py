"""The `POST /v1/responses` body: the subset of OpenAI's Responses API that maps onto a run."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from shared.schemas import MetadataMixin, NonBlankStr, RequestModel, SafeStr

MAX_MESSAGE_CHARS = 32000
# OpenAI's own limits for metadata, on top of Parley's (16 keys, 4 KB).
MAX_METADATA_KEY_CHARS = 64
MAX_METADATA_VALUE_CHARS = 512


class ResponseCreate(RequestModel, MetadataMixin):
    """What a client may send. Unknown parameters are a 400, never silently ignored."""

    model: NonBlankStr = Field("parley", max_length=256)
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    previous_response_id: SafeStr | None = Field(None, min_length=1, max_length=64)
    background: bool | None = None
    stream: bool | None = None
    store: bool | None = None
    metadata: dict[str, str] | None = None

    @field_validator("input")
    @classmethod
    def _one_user_message(cls, value: str | list[dict[str, Any]]) -> str | list[dict[str, Any]]:
        message_text(value)
        return value

    @field_validator("instructions")
    @classmethod
    def _no_instructions(cls, value: str | None) -> str | None:
        # The default agent has fixed instructions; applying a client's would need the agent
        # loop to take them (agents will). Refusing beats silently ignoring them.
        if value is not None and value.strip():
            raise ValueError(
                "instructions are not supported yet: the agent's own instructions apply"
            )
        return value

    @field_validator("store")
    @classmethod
    def _always_stored(cls, value: bool | None) -> bool | None:
        if value is False:
            raise ValueError("store=false is not supported: every Parley turn is stored")
        return value

    @field_validator("metadata")
    @classmethod
    def _openai_metadata_limits(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for key, item in (value or {}).items():
            if len(key) > MAX_METADATA_KEY_CHARS or len(item) > MAX_METADATA_VALUE_CHARS:
                raise ValueError(
                    f"metadata keys are at most {MAX_METADATA_KEY_CHARS} characters and "
                    f"values at most {MAX_METADATA_VALUE_CHARS}"
                )
        return value

    @model_validator(mode="after")
    def _sized(self) -> ResponseCreate:
        if len(self.message) > MAX_MESSAGE_CHARS:
            raise ValueError(f"input must be at most {MAX_MESSAGE_CHARS} characters of text")
        return self

    @property
    def message(self) -> str:
        """The run's user message: the input text, or the text of its user messages."""
        return message_text(self.input)


def message_text(value: str | list[dict[str, Any]]) -> str:
    """The text of one user turn; raises ValueError for what a Parley turn cannot carry.

    A run is one user message on top of its conversation's history, so a list input may hold
    only user messages (joined by blank lines); earlier turns come from previous_response_id.
    """
    if isinstance(value, str):
        texts = [value]
    else:
        if not value:
            raise ValueError("input must not be empty")
        texts = [_item_text(index, item) for index, item in enumerate(value)]
    text = "\n\n".join(texts)
    if not text.strip():
        raise ValueError("input must not be blank")
    return text


def _item_text(index: int, item: dict[str, Any]) -> str:
    where = f"input[{index}]"
    if item.get("type", "message") != "message":
        raise ValueError(f"{where}: only message items are supported, not {item.get('type')!r}")
    if item.get("role") != "user":
        raise ValueError(
            f"{where}: only role 'user' is supported (got {item.get('role')!r}); "
            "continue a conversation with previous_response_id instead"
        )
    unknown = set(item) - {"type", "role", "content"}
    if unknown:
        raise ValueError(f"{where}: unsupported field(s) {sorted(unknown)}")
    content = item.get("content")
    if isinstance(content, str):
        return content
    if not isinstance(content, list) or not content:
        raise ValueError(f"{where}.content must be a string or a list of input_text parts")
    parts = []
    for number, part in enumerate(content):
        if (
            not isinstance(part, dict)
            or part.get("type") != "input_text"
            or not isinstance(part.get("text"), str)
            or set(part) - {"type", "text"}
        ):
            raise ValueError(
                f"{where}.content[{number}]: only {{type: 'input_text', text}} parts are supported"
            )
        parts.append(part["text"])
    return "".join(parts)
