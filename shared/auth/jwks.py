"""Tokens of an external identity provider, verified with the keys of its JWKS endpoint.

PyJWT's PyJWKClient fetches the key set; this class decides when: once at first use, again
when the cached set is older than an hour, and on a token with an unknown `kid` (a rotated
key) — but never more than once a minute, so tokens with made-up key ids cannot make Parley
hammer the provider. Better Auth's JWT plugin serves `<base>/api/auth/jwks` with EdDSA keys.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import jwt
from jwt import PyJWKClient, PyJWKClientError, PyJWKSet

from shared.auth.tokens import InvalidToken, check_subject

log = logging.getLogger(__name__)

ALGORITHMS = ("RS256", "ES256", "EdDSA")
MIN_REFETCH_SECONDS = 60.0
MAX_KEY_SET_AGE_SECONDS = 3600.0
FETCH_TIMEOUT_SECONDS = 5


class JwksVerifier:
    """Verifies RS256/ES256/EdDSA tokens against one provider's JWKS, issuer and audience."""

    def __init__(
        self,
        url: str,
        issuer: str | None,
        audience: str | None,
        min_refetch_seconds: float = MIN_REFETCH_SECONDS,
    ) -> None:
        self.min_refetch_seconds = min_refetch_seconds
        self.client = PyJWKClient(url, cache_jwk_set=False, timeout=FETCH_TIMEOUT_SECONDS)
        self.issuer = issuer
        self.audience = audience
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()
        self.fetches = 0

    async def claims(self, token: str) -> dict[str, Any]:
        """The verified claims; InvalidToken for anything short of a valid token."""
        return await asyncio.to_thread(self._claims, token)

    def _claims(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except (jwt.PyJWTError, ValueError) as exc:
            raise InvalidToken(f"malformed token: {exc}") from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise InvalidToken(f"algorithm {str(algorithm)[:20]!r} is not accepted")
        key = self._key(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                issuer=self.issuer,
                audience=self.audience,
                options={"require": ["exp", "sub"], "verify_aud": self.audience is not None},
            )
        except (jwt.PyJWTError, ValueError) as exc:
            raise InvalidToken(str(exc).encode(errors="replace").decode()) from None
        check_subject(claims)
        return claims

    def _key(self, kid: Any) -> jwt.PyJWK:
        if kid is not None and not isinstance(kid, str):
            raise InvalidToken("kid must be a string")
        with self._lock:
            now = time.monotonic()
            stale = self._fetched_at is None or now - self._fetched_at > MAX_KEY_SET_AGE_SECONDS
            unknown = kid not in self._keys and not (kid is None and len(self._keys) == 1)
            waited = now - (self._fetched_at or 0.0)
            may_refetch = self._fetched_at is None or waited >= self.min_refetch_seconds
            if stale or (unknown and may_refetch):
                self._fetch()
            if kid is None and len(self._keys) == 1:
                return next(iter(self._keys.values()))
            key = self._keys.get(kid)
        if key is None:
            raise InvalidToken("unknown signing key (kid)")
        return key

    def _fetch(self) -> None:
        self._fetched_at = time.monotonic()  # a failed fetch also waits a minute before the next
        self.fetches += 1
        try:
            data = self.client.fetch_data()
            key_set = PyJWKSet.from_dict(data)
        except (PyJWKClientError, jwt.PyJWTError, ValueError, TypeError) as exc:
            log.warning("JWKS fetch from %s failed: %s", self.client.uri, exc)
            return
        self._keys = {key.key_id: key for key in key_set.keys}
        log.info("JWKS: %d keys from %s", len(self._keys), self.client.uri)
