"""Public shapes of sign-in: register, tokens, the current identity, API keys."""

from __future__ import annotations

import datetime as dt
from typing import Literal, get_args

from pydantic import BaseModel, Field, field_validator

from shared.auth.models import ApiKey
from shared.schemas import RequestModel, SafeStr

Scope = Literal[
    "runs:read",
    "runs:write",
    "tasks:read",
    "tasks:write",
    "agents:read",
    "agents:write",
    "webhooks:manage",
]
SCOPES: tuple[str, ...] = get_args(Scope)
USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@+\-]{2,253}$"
# Argon2 hashes any length, but a megabyte password would be a cheap way to burn CPU.
MAX_PASSWORD = 256


class RegisterIn(RequestModel):
    username: str = Field(
        pattern=USERNAME_PATTERN,
        description="3 to 254 characters: letters, digits and _ . @ + - (an email works).",
    )
    password: str = Field(min_length=8, max_length=MAX_PASSWORD)


class UserOut(BaseModel):
    id: str
    username: str


class TokenOut(BaseModel):
    """OAuth2 token response (RFC 6749 section 5.1)."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str


class RefreshIn(RequestModel):
    refresh_token: SafeStr = Field(min_length=1, max_length=200)


class MeOut(BaseModel):
    id: str
    username: str | None
    auth: Literal["password", "jwt", "api_key"]
    scopes: list[str] | None = Field(description="An API key's scopes; null means every scope.")


class ApiKeyCreate(RequestModel):
    name: SafeStr = Field(min_length=1, max_length=200)
    scopes: list[Scope] = Field(min_length=1, max_length=len(SCOPES))
    expires_at: dt.datetime | None = None

    @field_validator("expires_at")
    @classmethod
    def _future_utc(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("expires_at needs a time zone (e.g. 2030-01-01T00:00:00Z)")
        if value <= dt.datetime.now(dt.UTC):
            raise ValueError("expires_at must be in the future")
        return value.astimezone(dt.UTC)


class ApiKeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    scopes: list[str]
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    expires_at: dt.datetime | None

    @classmethod
    def of(cls, row: ApiKey) -> ApiKeyOut:
        return cls.model_validate(row, from_attributes=True)


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key itself (`pk_…`), shown only this once.")


class ApiKeyList(BaseModel):
    data: list[ApiKeyOut]
