"""Public shapes of webhooks: the event body, the secret, and the delivery log."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel

from shared.runs.schemas import RunOut
from shared.webhooks.models import WebhookDelivery, WebhookMessage

EventType = Literal["run.completed", "run.failed", "run.cancelled"]
DeliveryStatus = Literal["pending", "delivered", "failed"]


class RunEventData(BaseModel):
    run: RunOut


class WebhookEvent(BaseModel):
    """The POST body a run's webhook_url receives when the run ends."""

    type: EventType
    timestamp: dt.datetime
    data: RunEventData


class WebhookSecretOut(BaseModel):
    secret: str


class SecretRotationOut(BaseModel):
    """A rotation's outcome; the new secret itself is read with GET /v1/webhook-secret."""

    rotated_at: dt.datetime
    previous_secret_expires_at: dt.datetime


class DeliveryAttemptOut(BaseModel):
    attempt: int
    status_code: int | None
    error: str | None
    duration_ms: int
    created_at: dt.datetime

    @classmethod
    def of(cls, row: WebhookDelivery) -> DeliveryAttemptOut:
        return cls(
            attempt=row.attempt,
            status_code=row.status_code,
            error=row.error,
            duration_ms=row.duration_ms,
            created_at=row.created_at,
        )


class DeliveryStateOut(BaseModel):
    """Where a run's webhook stands: `webhook_id` is the header receivers deduplicate on."""

    webhook_id: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: dt.datetime | None

    @classmethod
    def of(cls, message: WebhookMessage) -> DeliveryStateOut:
        return cls(
            webhook_id=message.id,
            status=message.status,
            attempts=message.attempts,
            next_attempt_at=message.next_attempt_at if message.status == "pending" else None,
        )


class DeliveryLog(BaseModel):
    """Attempts oldest first (the latest 100), plus the delivery's state (null: none owed)."""

    data: list[DeliveryAttemptOut]
    delivery: DeliveryStateOut | None
