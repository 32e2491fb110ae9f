"""Building blocks for the public schemas: pages, metadata limits, strict request models."""

from __future__ import annotations

import json
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, field_validator

T = TypeVar("T")

MAX_METADATA_KEYS = 16
MAX_METADATA_BYTES = 4096


class RequestModel(BaseModel):
    """Request bodies reject unknown fields, so a typo is a 422 rather than silently ignored."""

    model_config = ConfigDict(extra="forbid")


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
    if len(json.dumps(value, separators=(",", ":")).encode()) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata may be at most {MAX_METADATA_BYTES} bytes of JSON")
    return value


class MetadataMixin(BaseModel):
    """Validates a `metadata` field of a request."""

    @field_validator("metadata", check_fields=False)
    @classmethod
    def _metadata_limits(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return check_metadata(value)
