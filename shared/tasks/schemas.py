"""Public shapes of tasks (docs/api.md section 7)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from shared.schemas import NonBlankStr, RequestModel
from shared.tasks.models import Task

TaskFilter = Literal["all", "pending", "completed"]


class TaskCreate(RequestModel):
    title: NonBlankStr = Field(min_length=1, max_length=500)
    description: str | None = Field(None, max_length=10000)


class TaskUpdate(RequestModel):
    title: NonBlankStr | None = Field(None, min_length=1, max_length=500)
    description: str | None = Field(None, max_length=10000)
    completed: bool | None = Field(None, strict=True)  # "yes" or 1 is a mistake, not True


class TaskOut(BaseModel):
    id: int
    title: str
    description: str | None
    completed: bool
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, task: Task) -> TaskOut:
        return cls(
            id=task.id,
            title=task.title,
            description=task.description,
            completed=task.completed,
            created_at=task.created_at,
            updated_at=task.updated_at,
        )


class TaskList(BaseModel):
    data: list[TaskOut]
