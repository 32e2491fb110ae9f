"""Development-only helpers; the app registers these routes only when PARLEY_ENV=development."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter
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
async def demo_token(settings: SettingsDep, body: DemoTokenRequest | None = None) -> DemoToken:
    """Mint a bearer token for a demo user (development only; absent in production)."""
    if settings.parley_env != "development":
        raise NotFound("Not Found")
    user_id = body.user_id if body is not None else DEMO_USER
    token = issue_token(settings, user_id, DEMO_TOKEN_TTL)
    return DemoToken(token=token, user_id=user_id, expires_in=int(DEMO_TOKEN_TTL.total_seconds()))
