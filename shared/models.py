"""Every table, imported in one place for Alembic and for relationship resolution."""

from shared.conversations.models import Conversation, Message
from shared.db import Base
from shared.runs.models import Run, ToolCall
from shared.tasks.models import Task

__all__ = ["Base", "Conversation", "Message", "Run", "Task", "ToolCall"]
