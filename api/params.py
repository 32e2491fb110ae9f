"""Path and query parameters shared by routes, validated so no input reaches the DB unstorable."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from shared.schemas import SafeStr

# Ids are opaque: an unknown (or someone else's) id is a 404, but a NUL byte is a 422 rather
# than a PostgreSQL error.
ConversationId = Annotated[SafeStr, Path(description="A conversation id.")]
RunId = Annotated[SafeStr, Path(description="A run id.")]
Limit = Annotated[int, Query(ge=1, le=100, description="Page size, 1..100.")]
Cursor = Annotated[
    SafeStr | None,
    Query(min_length=1, max_length=64, description="The `next_cursor` of the previous page."),
]
