"""Standard Webhooks signing through the `standardwebhooks` package, never hand-rolled HMAC."""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from collections.abc import Sequence

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"
# 32 random bytes: the HMAC-SHA256 block-size-safe key length Standard Webhooks recommends.
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh `whsec_<base64>` secret, as receivers pass it to `Webhook(secret)`."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature_header(
    keys: Sequence[str], message_id: str, timestamp: dt.datetime, body: str
) -> str:
    """`v1,<sig>` for each key, space-separated (the spec's form for a rotation overlap)."""
    if not keys:
        raise ValueError("at least one signing key is needed")
    return " ".join(Webhook(key).sign(message_id, timestamp, body) for key in keys)


def signed_headers(
    keys: Sequence[str], message_id: str, body: str, now: dt.datetime
) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt (the timestamp is the attempt's)."""
    stamp = dt.datetime.fromtimestamp(int(now.timestamp()), dt.UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(stamp.timestamp())),
        "webhook-signature": signature_header(keys, message_id, stamp, body),
    }
