"""Public shapes of tasks (docs/api.md section 7)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field

from shared.schemas import NonBlankStr, RequestModel

TaskFilter = Literal["all", "pending", "completed"]


class TaskCreate(RequestModel):
    title: NonBlankStr = Field(min_length=1, max_length=500)
    description: str | None = Field(None, max_length=10000)


class TaskUpdate(RequestModel):
    title: NonBlankStr | None = Field(None, min_length=1, max_length=500)
    description: str | None = Field(None, max_length=10000)
    completed: bool | None = Field(None, strict=True)  # "yes" or 1 is a mistake, not True


class TaskOut(BaseModel):
    """A task as people and apps see it."""

    # Read from the row's `number` (never its internal id); from a dict, `id`.
    id: int = Field(
        validation_alias=AliasChoices("number", "id"),
        description="The user's own task number (1, 2, 3 … per user); a deleted task's number "
        "is never given to another task.",
    )
    title: str
    description: str | None
    completed: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class TaskList(BaseModel):
    data: list[TaskOut]
