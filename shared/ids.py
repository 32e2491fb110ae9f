"""Opaque, time-ordered string ids, so ordering by id is ordering by creation."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
_lock = threading.Lock()
_last = 0


def _encode(number: int, length: int) -> str:
    chars = []
    for _ in range(length):
        number, rem = divmod(number, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """`prefix_` + 26 chars: 48-bit ms time + 80 random bits, monotonic within a process."""
    global _last
    with _lock:
        now = time.time_ns() // 1_000_000
        rand = int.from_bytes(os.urandom(10), "big")
        value = (now << 80) | rand
        if value <= _last:
            value = _last + 1
        _last = value
    return f"{prefix}_{_encode(value, 26)}"


def id_floor(prefix: str, moment: dt.datetime) -> str:
    """The smallest id `new_id(prefix)` could have produced at `moment` (for time ranges)."""
    ms = int(moment.timestamp() * 1000)
    return f"{prefix}_{_encode(ms << 80, 26)}"
