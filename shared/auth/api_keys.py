"""API keys for integrations: `pk_…` shown once, stored as a SHA-256, scoped, revocable."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth.models import ApiKey
from shared.db import utcnow
from shared.errors import Conflict, NotFound

KEY_PREFIX = "pk_"
SHOWN_PREFIX_LENGTH = 11  # "pk_" + 8 characters: enough to tell keys apart in a list
# last_used_at is written at most this often per key, so a busy key is not a write per request.
LAST_USED_RESOLUTION = dt.timedelta(seconds=60)
MAX_KEYS_PER_USER = 100


def key_hash(key: str) -> str:
    # The key has 256 random bits: a fast hash is enough (no password stretching needed).
    return hashlib.sha256(key.encode("utf-8", errors="replace")).hexdigest()


def looks_like_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX)


async def create(
    session: AsyncSession,
    user_id: str,
    name: str,
    scopes: Sequence[str],
    expires_at: dt.datetime | None,
) -> tuple[ApiKey, str]:
    """A new key row and the key itself (returned to the caller once, never stored)."""
    existing = await session.scalar(
        select(ApiKey.id).where(ApiKey.user_id == user_id).offset(MAX_KEYS_PER_USER - 1).limit(1)
    )
    if existing is not None:
        raise Conflict(f"at most {MAX_KEYS_PER_USER} API keys per user; delete one first")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        user_id=user_id,
        name=name,
        prefix=key[:SHOWN_PREFIX_LENGTH],
        key_hash=key_hash(key),
        scopes=sorted(set(scopes)),
        expires_at=expires_at,
    )
    session.add(row)
    await session.flush()
    return row, key


async def list_keys(session: AsyncSession, user_id: str) -> Sequence[ApiKey]:
    rows = await session.execute(
        select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.id)
    )
    return rows.scalars().all()


async def revoke(session: AsyncSession, user_id: str, key_id: str) -> None:
    """Delete the key: the next request that presents it is refused."""
    result = await session.execute(
        delete(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user_id)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise NotFound("API key not found")


async def find_live(session: AsyncSession, key: str) -> ApiKey | None:
    """The key's row if it exists and has not expired; records when it was last used."""
    row = (
        await session.execute(select(ApiKey).where(ApiKey.key_hash == key_hash(key)))
    ).scalar_one_or_none()
    now = utcnow()
    if row is None or (row.expires_at is not None and row.expires_at <= now):
        return None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        await session.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=now))
        row.last_used_at = now
    return row
