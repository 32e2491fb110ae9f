"""Todo operations for one user, used by both the REST routes and the MCP tools."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import utcnow
from shared.errors import NotFound
from shared.tasks.models import Task


async def list_tasks(session: AsyncSession, user_id: str, status: str = "all") -> Sequence[Task]:
    query = select(Task).where(Task.user_id == user_id).order_by(Task.id)
    if status == "pending":
        query = query.where(Task.completed.is_(False))
    elif status == "completed":
        query = query.where(Task.completed.is_(True))
    return (await session.execute(query)).scalars().all()


async def get(session: AsyncSession, user_id: str, task_id: int) -> Task:
    task = (
        await session.execute(select(Task).where(Task.id == task_id, Task.user_id == user_id))
    ).scalar_one_or_none()
    if task is None:
        raise NotFound(f"task {task_id} not found")
    return task


async def add(session: AsyncSession, user_id: str, title: str, description: str | None) -> Task:
    task = Task(user_id=user_id, title=title, description=description)
    session.add(task)
    await session.flush()
    return task


async def update(
    session: AsyncSession,
    user_id: str,
    task_id: int,
    *,
    title: str | None = None,
    description: str | None = None,
    completed: bool | None = None,
) -> Task:
    task = await get(session, user_id, task_id)
    if title is not None:
        task.title = title
    if description is not None:
        task.description = description
    if completed is not None:
        task.completed = completed
    task.updated_at = utcnow()
    await session.flush()
    return task


async def remove(session: AsyncSession, user_id: str, task_id: int) -> Task:
    task = await get(session, user_id, task_id)
    await session.execute(delete(Task).where(Task.id == task.id))
    return task
