"""Argon2 password hashes (pwdlib), computed off the event loop, equal-time for unknown users."""

from __future__ import annotations

import asyncio
from functools import lru_cache

from pwdlib import PasswordHash


@lru_cache(maxsize=1)
def _hasher() -> PasswordHash:
    return PasswordHash.recommended()  # Argon2id with pwdlib's recommended parameters


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash to verify against when the user does not exist, so both cases cost the same."""
    return _hasher().hash("parley-no-such-user")


async def hash_password(password: str) -> str:
    """The Argon2 hash of `password` (about 50 ms of CPU: run in a thread)."""
    return await asyncio.to_thread(_hasher().hash, password)


async def verify_password(password: str, password_hash: str | None) -> bool:
    """Whether `password` matches; with no hash (unknown user) it does the same work, then False."""
    if password_hash is None:
        await asyncio.to_thread(_hasher().verify, password, _dummy_hash())
        return False
    return await asyncio.to_thread(_hasher().verify, password, password_hash)
