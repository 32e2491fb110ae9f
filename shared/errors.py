"""Domain errors that carry their HTTP status, rendered by one handler in the API."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error a client can cause; `status_code` is its HTTP status."""

    status_code = 400

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra
        self.headers: dict[str, str] = {}


class NotFound(DomainError):
    """The thing does not exist, or belongs to someone else (never 403 for foreign ids)."""

    status_code = 404


class Forbidden(DomainError):
    """The caller is authenticated but acts for another user."""

    status_code = 403


class Conflict(DomainError):
    """The request clashes with the current state (busy conversation, terminal run, key reuse)."""

    status_code = 409


class Unprocessable(DomainError):
    """The request is well-formed but refers to something unacceptable (e.g. a private URL)."""

    status_code = 422


class RateLimited(DomainError):
    """Too many requests; `retry_after` seconds until the next one is allowed."""

    status_code = 429

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(max(1, retry_after))}


class Unavailable(DomainError):
    """A dependency (database, broker) is down; the client should retry later."""

    status_code = 503

    def __init__(self, detail: str, retry_after: int = 5) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after)}
