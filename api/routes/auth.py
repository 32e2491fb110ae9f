"""Sign-in with a password: register, the OAuth2 password flow, refresh, logout, and /v1/me."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import SettingsDep, UoW
from api.errors import error_responses
from api.security import CurrentPrincipal
from shared.auth import service
from shared.auth.schemas import MAX_PASSWORD, MeOut, RefreshIn, RegisterIn, TokenOut, UserOut
from shared.auth.service import TokenPair
from shared.errors import Forbidden, Unauthenticated

router = APIRouter(prefix="/v1/auth", tags=["auth"])
me_router = APIRouter(prefix="/v1/me", tags=["auth"])

# One answer for a wrong password, an unknown user and a disabled account.
LOGIN_FAILED = "incorrect username or password"
REFRESH_REFUSED = "invalid, expired or revoked refresh token; sign in again"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _tokens(pair: TokenPair, response: Response) -> TokenOut:
    response.headers.update(NO_STORE)  # RFC 6749 section 5.1: token responses are not cached
    return TokenOut(
        access_token=pair.access_token, expires_in=pair.expires_in, refresh_token=pair.refresh_token
    )


def _address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


@router.post(
    "/register",
    status_code=201,
    responses=error_responses(403, 409),
)
async def register(body: RegisterIn, uow: UoW, settings: SettingsDep) -> UserOut:
    """Create a user with a password (open in development; AUTH_REGISTRATION=open elsewhere)."""
    if not settings.registration_open:
        raise Forbidden("registration is closed on this server")
    user = await service.register(uow.session, body.username, body.password)
    return UserOut(id=user.id, username=user.username)


@router.post("/token", responses=error_responses(401, 429))
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    response: Response,
    uow: UoW,
    settings: SettingsDep,
) -> TokenOut:
    """OAuth2 password flow: form fields `username` and `password` give a token pair."""
    address = _address(request)
    await service.check_throttle(uow.session, settings, form.username, address)
    user = None
    if 0 < len(form.password) <= MAX_PASSWORD and 0 < len(form.username) <= 254:
        user = await service.authenticate(uow.session, form.username, form.password, address)
    else:
        await service.record_failure(uow.session, form.username, address)
    if user is None:
        await uow.commit()  # the failure counts even though this request fails
        raise Unauthenticated(LOGIN_FAILED)
    return _tokens(await service.start_session(uow.session, settings, user.id), response)


@router.post("/refresh", responses=error_responses(401))
async def refresh(body: RefreshIn, response: Response, uow: UoW, settings: SettingsDep) -> TokenOut:
    """Trade a refresh token for a new pair; the old one stops working (reuse revokes all)."""
    pair = await service.rotate(uow.session, settings, body.refresh_token)
    if pair is None:
        await uow.commit()  # a detected reuse has revoked the family: keep that
        raise Unauthenticated(REFRESH_REFUSED)
    return _tokens(pair, response)


@router.post("/logout", status_code=204)
async def logout(body: RefreshIn, uow: UoW) -> Response:
    """Sign out: the refresh token (and every token rotated from it) stops working."""
    await service.revoke(uow.session, body.refresh_token)
    return Response(status_code=204)


@me_router.get("", responses=error_responses(401))
async def me(principal: CurrentPrincipal, uow: UoW) -> MeOut:
    """Who you are, how you signed in, and (for an API key) what you may do."""
    user = await service.user_by_id(uow.session, principal.user_id)
    return MeOut(
        id=principal.user_id,
        username=user.username if user is not None else None,
        auth=principal.auth,
        scopes=sorted(principal.scopes) if principal.scopes is not None else None,
    )
