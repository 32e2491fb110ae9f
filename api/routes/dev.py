"""Development-only helpers; registered only with PARLEY_DEV_LOGIN=true (never in production)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from api.deps import SettingsDep
from shared.auth import issue_token
from shared.errors import NotFound
from shared.schemas import RequestModel

router = APIRouter(prefix="/v1/dev", tags=["development"])

DEMO_USER = "demo"
DEMO_TOKEN_TTL = dt.timedelta(days=7)


class DemoTokenRequest(RequestModel):
    user_id: str = Field(DEMO_USER, pattern=r"^[A-Za-z0-9_.\-]{1,64}$")


class DemoToken(BaseModel):
    token: str
    token_type: Literal["bearer"] = "bearer"
    user_id: str
    expires_in: int


@router.post("/token")
async def demo_token(
    settings: SettingsDep, response: Response, body: DemoTokenRequest | None = None
) -> DemoToken:
    """Mint a bearer token for a demo user (only with PARLEY_DEV_LOGIN; never in production)."""
    if not settings.dev_login:
        raise NotFound("Not Found")
    response.headers["Cache-Control"] = "no-store"
    user_id = body.user_id if body is not None else DEMO_USER
    token = issue_token(settings, user_id, DEMO_TOKEN_TTL)
    return DemoToken(token=token, user_id=user_id, expires_in=int(DEMO_TOKEN_TTL.total_seconds()))
