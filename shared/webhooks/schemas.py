"""Public shapes of webhooks: the event body, the secret, and the delivery log."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, model_validator

from shared.runs.schemas import RunOut

EventType = Literal["run.requires_action", "run.completed", "run.failed", "run.cancelled"]
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


class DeliveryStateOut(BaseModel):
    """Where a run's webhook stands: `webhook_id` is the header receivers deduplicate on."""

    webhook_id: str = Field(validation_alias=AliasChoices("id", "webhook_id"))
    status: DeliveryStatus
    attempts: int
    next_attempt_at: dt.datetime | None

    @model_validator(mode="after")
    def _due_only_while_pending(self) -> DeliveryStateOut:
        # A finished delivery keeps its last schedule in the row; it is no longer due.
        if self.status != "pending":
            self.next_attempt_at = None
        return self


class DeliveryLog(BaseModel):
    """Attempts oldest first (the latest 100), plus the delivery's state (null: none owed)."""

    data: list[DeliveryAttemptOut]
    delivery: DeliveryStateOut | None
