"""API keys for integrations: create (the key is shown once), list, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from api.deps import UoW
from api.errors import error_responses
from api.security import Principal, authenticate
from shared.auth import api_keys
from shared.auth.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyList, ApiKeyOut
from shared.errors import Forbidden
from shared.schemas import SafeStr

router = APIRouter(prefix="/v1/api-keys", tags=["api-keys"])

KeyId = Annotated[SafeStr, Path(min_length=1, max_length=64)]


async def key_manager(principal: Annotated[Principal, Depends(authenticate)]) -> str:
    """The user managing keys; an API key may not mint or revoke keys (no escalation)."""
    if principal.auth == "api_key":
        raise Forbidden("API keys cannot manage API keys; sign in with a password or a token")
    return principal.user_id


Manager = Annotated[str, Depends(key_manager)]


@router.post("", status_code=201, responses=error_responses(403, 409))
async def create_key(
    body: ApiKeyCreate, user: Manager, uow: UoW, response: Response
) -> ApiKeyCreated:
    """Create a key with the given scopes; `key` is in this response only."""
    row, key = await api_keys.create(uow.session, user, body.name, body.scopes, body.expires_at)
    response.headers["Cache-Control"] = "no-store"
    return ApiKeyCreated(**ApiKeyOut.of(row).model_dump(), key=key)


@router.get("", responses=error_responses(403))
async def list_keys(user: Manager, uow: UoW) -> ApiKeyList:
    """Your keys (prefix, name, scopes, created, last used, expiry); never the keys themselves."""
    return ApiKeyList(
        data=[ApiKeyOut.of(row) for row in await api_keys.list_keys(uow.session, user)]
    )


@router.delete("/{key_id}", status_code=204, responses=error_responses(403))
async def delete_key(key_id: KeyId, user: Manager, uow: UoW) -> Response:
    """Revoke a key: the next request that presents it gets 401."""
    await api_keys.revoke(uow.session, user, key_id)
    return Response(status_code=204)
