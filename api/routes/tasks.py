"""The todo list over REST, for apps (docs/api.md section 7)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from api.deps import CurrentUser, UoW
from shared.tasks import service
from shared.tasks.schemas import TaskCreate, TaskFilter, TaskList, TaskOut, TaskUpdate

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])

TaskId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The task's number (its `id`).")]


@router.get("")
async def list_tasks(user: CurrentUser, uow: UoW, status: TaskFilter = "all") -> TaskList:
    """The caller's tasks, oldest first."""
    tasks = await service.list_tasks(uow.session, user, status)
    return TaskList(data=[TaskOut.model_validate(t, from_attributes=True) for t in tasks])


@router.post("", status_code=201)
async def create_task(body: TaskCreate, user: CurrentUser, uow: UoW) -> TaskOut:
    """Add a task."""
    return TaskOut.model_validate(
        await service.add(uow.session, user, body.title, body.description), from_attributes=True
    )


@router.get("/{task_id}")
async def get_task(task_id: TaskId, user: CurrentUser, uow: UoW) -> TaskOut:
    """One task."""
    return TaskOut.model_validate(
        await service.get(uow.session, user, task_id), from_attributes=True
    )


@router.patch("/{task_id}")
async def update_task(task_id: TaskId, body: TaskUpdate, user: CurrentUser, uow: UoW) -> TaskOut:
    """Change a task's title, description or completion."""
    task = await service.update(
        uow.session,
        user,
        task_id,
        title=body.title,
        description=body.description,
        completed=body.completed,
    )
    return TaskOut.model_validate(task, from_attributes=True)


@router.delete("/{task_id}", status_code=204)
async def delete_task(task_id: TaskId, user: CurrentUser, uow: UoW) -> Response:
    """Delete a task."""
    await service.remove(uow.session, user, task_id)
    return Response(status_code=204)
