"""Keyset pagination over time-ordered string ids."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


async def fetch_page(
    session: AsyncSession,
    query: Select[T],
    id_column: Any,
    *,
    limit: int,
    after: str | None,
    newest_first: bool,
) -> tuple[Sequence[T], bool]:
    """One page of `query` after the cursor `after`, plus whether more follow."""
    if after is not None:
        query = query.where(id_column < after if newest_first else id_column > after)
    query = query.order_by(id_column.desc() if newest_first else id_column.asc())
    rows: Sequence[T] = (await session.execute(query.limit(limit + 1))).scalars().all()
    return rows[:limit], len(rows) > limit
