"""Building blocks for the public schemas: pages, metadata limits, strict request models."""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, field_validator

T = TypeVar("T")

MAX_METADATA_KEYS = 16
MAX_METADATA_BYTES = 4096
# Deeper than this, Python's JSON codec raises RecursionError; metadata is a label anyway.
MAX_JSON_DEPTH = 32


def check_text(value: str) -> str:
    """Refuse what the databases cannot store: NUL (PostgreSQL text) and unpaired surrogates."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no unpaired surrogates)") from None
    return value


def check_json(value: Any, depth: int = 0) -> Any:
    """Every string (keys too) passes `check_text`, numbers are finite, nesting is bounded.

    JSON bodies are parsed by Python's `json`, which accepts NaN/Infinity; PostgreSQL's JSONB
    does not, so they must be refused here rather than fail at the insert.
    """
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"must not be nested more than {MAX_JSON_DEPTH} levels deep")
    if isinstance(value, str):
        check_text(value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers must be finite")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_json(key, depth + 1)
            check_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_json(item, depth + 1)
    return value


def check_not_blank(value: str) -> str:
    """A message or title of only whitespace says nothing."""
    if not value.strip():
        raise ValueError("must not be blank")
    return value


# A string a request may carry anywhere (path, query, body): storable on every database.
SafeStr = Annotated[str, AfterValidator(check_text)]
NonBlankStr = Annotated[str, AfterValidator(check_text), AfterValidator(check_not_blank)]


class RequestModel(BaseModel):
    """Request bodies reject unknown fields, so a typo is a 422 rather than silently ignored.

    Every field is also checked for what the databases refuse (NUL, lone surrogates, NaN), so
    such input is a 422 and never a 500 at the insert.
    """

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        return check_json(value)


class Page(BaseModel, Generic[T]):
    """A cursor page: pass `next_cursor` as `after` for the next one."""

    data: list[T]
    has_more: bool
    next_cursor: str | None


def check_metadata(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """At most 16 keys and 4 KB of JSON, so metadata stays a label, not a payload."""
    if value is None:
        return None
    if len(value) > MAX_METADATA_KEYS:
        raise ValueError(f"metadata may have at most {MAX_METADATA_KEYS} keys")
    check_json(value)
    if len(json.dumps(value, separators=(",", ":")).encode()) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata may be at most {MAX_METADATA_BYTES} bytes of JSON")
    return value


class MetadataMixin(BaseModel):
    """Validates a `metadata` field of a request."""

    @field_validator("metadata", check_fields=False)
    @classmethod
    def _metadata_limits(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return check_metadata(value)
