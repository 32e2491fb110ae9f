"""Every table, imported in one place for Alembic and for relationship resolution."""

from shared.agents.models import Agent, AgentVersion
from shared.auth.models import ApiKey, LoginFailure, RefreshToken, User
from shared.conversations.models import Conversation, Message
from shared.db import Base
from shared.events.models import RunEvent
from shared.provider.models import ProviderLimit
from shared.runs.models import Run, ToolCall
from shared.tasks.models import Task, TaskCounter
from shared.webhooks.models import WebhookDelivery, WebhookMessage, WebhookSecret
from shared.workers.models import WorkerBeat

__all__ = [
    "Agent",
    "AgentVersion",
    "ApiKey",
    "Base",
    "Conversation",
    "LoginFailure",
    "Message",
    "ProviderLimit",
    "RefreshToken",
    "Run",
    "RunEvent",
    "Task",
    "TaskCounter",
    "ToolCall",
    "User",
    "WebhookDelivery",
    "WebhookMessage",
    "WebhookSecret",
    "WorkerBeat",
]
