"""Sign-in: bearer tokens, users and passwords, refresh tokens, API keys, external JWKS."""

from shared.auth.tokens import ALGORITHM, InvalidToken, issue_token, user_from_token

__all__ = ["ALGORITHM", "InvalidToken", "issue_token", "user_from_token"]
