"""Webhooks: the caller's signing secret and a run's delivery log (docs/api.md section 6)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from api.deps import CurrentUser, UoW
from shared.schemas import SafeStr
from shared.webhooks import service
from shared.webhooks.schemas import (
    DeliveryAttemptOut,
    DeliveryLog,
    DeliveryStateOut,
    SecretRotationOut,
    WebhookSecretOut,
)

secret_router = APIRouter(prefix="/v1/webhook-secret", tags=["webhooks"])
deliveries_router = APIRouter(prefix="/v1/runs/{run_id}/webhook-deliveries", tags=["webhooks"])

RunId = Annotated[SafeStr, Path(min_length=1, max_length=64)]


@secret_router.get("")
async def get_secret(user: CurrentUser, uow: UoW, response: Response) -> WebhookSecretOut:
    """Your webhook signing secret (`whsec_…`), created on first read."""
    response.headers["Cache-Control"] = "no-store"  # a secret must not sit in any cache
    row = await service.get_or_create_secret(uow.session, user)
    return WebhookSecretOut(secret=row.secret)


@secret_router.post("/rotate")
async def rotate_secret(user: CurrentUser, uow: UoW, response: Response) -> SecretRotationOut:
    """Replace your secret; the old one also signs for 24 h. Read the new one with GET."""
    response.headers["Cache-Control"] = "no-store"
    row = await service.rotate_secret(uow.session, user)
    assert row.rotated_at is not None and row.previous_expires_at is not None
    return SecretRotationOut(
        rotated_at=row.rotated_at, previous_secret_expires_at=row.previous_expires_at
    )


@deliveries_router.get("")
async def list_deliveries(run_id: RunId, user: CurrentUser, uow: UoW) -> DeliveryLog:
    """A run's webhook attempts, oldest first, and where its delivery stands."""
    attempts, message = await service.delivery_log(uow.session, user, run_id)
    return DeliveryLog(
        data=[DeliveryAttemptOut.model_validate(a, from_attributes=True) for a in attempts],
        delivery=DeliveryStateOut.model_validate(message, from_attributes=True)
        if message is not None
        else None,
    )


@deliveries_router.post(
    "/redeliver",
    status_code=202,
    responses={
        409: {
            "description": "the run has not ended, has no webhook_url, or an attempt is in flight"
        }
    },
)
async def redeliver(run_id: RunId, user: CurrentUser, uow: UoW) -> DeliveryStateOut:
    """Send an ended run's webhook again: a fresh round of attempts, same webhook-id."""
    message = await service.redeliver(uow.session, uow.dispatcher, user, run_id)
    return DeliveryStateOut.model_validate(message, from_attributes=True)
