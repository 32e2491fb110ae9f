"""`parley runs …`, `parley webhooks redeliver`: an operator steers turns across all users.

Each command is one unit of work on the database named by DATABASE_URL (jobs it sends go out
after the commit, as in the API); a domain error prints its reason and exits 1.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy import select

from shared.errors import DomainError

T = TypeVar("T")

runs_app = typer.Typer(help="Inspect and steer runs (chat turns) of every user.")
webhooks_app = typer.Typer(help="Webhook deliveries.")


def in_unit_of_work(work: Callable[[Any], Awaitable[T]]) -> T:
    """Run `work(uow)` in one committed unit of work; a domain error exits 1 with its reason."""
    from shared.config import get_settings
    from shared.db import Database
    from shared.uow import unit_of_work

    async def main() -> T:
        database = Database(get_settings().database_url)
        try:
            async with unit_of_work(database) as uow:
                return await work(uow)
        finally:
            await database.dispose()

    try:
        return asyncio.run(main())
    except DomainError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _run_json(run: Any) -> dict[str, Any]:
    from shared.runs.schemas import RunOut

    body: dict[str, Any] = RunOut.model_validate(run, from_attributes=True).model_dump(mode="json")
    body.update(user_id=run.user_id, attempts=run.attempts)
    return body


async def _load(session: Any, run_id: str) -> Any:
    from shared.errors import NotFound
    from shared.runs.models import Run

    run = await session.get(Run, run_id)
    if run is None:
        raise NotFound(f"run {run_id} not found")
    return run


@runs_app.command("list")
def list_runs(
    status: Annotated[str | None, typer.Option(help="Only runs in this status.")] = None,
    user: Annotated[str | None, typer.Option(help="Only this user's runs.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 20,
) -> None:
    """Newest runs first: id, status, user, attempts, created_at, one per line."""
    from shared.runs.models import Run

    async def work(uow: Any) -> list[Any]:
        query = select(Run).order_by(Run.created_at.desc(), Run.id.desc()).limit(limit)
        if status is not None:
            query = query.where(Run.status == status)
        if user is not None:
            query = query.where(Run.user_id == user)
        return list((await uow.session.execute(query)).scalars())

    for run in in_unit_of_work(work):
        typer.echo(
            f"{run.id}\t{run.status}\t{run.user_id}\tattempts={run.attempts}"
            f"\t{run.created_at.isoformat()}"
        )


@runs_app.command("show")
def show_run(run_id: Annotated[str, typer.Argument(help="The run's id.")]) -> None:
    """The run as the API shows it, plus its user and attempts (JSON)."""

    async def work(uow: Any) -> dict[str, Any]:
        return _run_json(await _load(uow.session, run_id))

    typer.echo(json.dumps(in_unit_of_work(work), indent=2))


@runs_app.command("cancel")
def cancel_run(run_id: Annotated[str, typer.Argument(help="The run's id.")]) -> None:
    """Cancel a run: at once if queued, at its worker's next step if running."""
    from shared.runs import service

    async def work(uow: Any) -> str:
        run = await _load(uow.session, run_id)
        run = await service.cancel(uow.session, uow.dispatcher, run.user_id, run_id)
        return str(run.status)

    status = in_unit_of_work(work)
    typer.echo(f"{run_id}: {'cancelled' if status == 'cancelled' else 'cancel requested'}")


@runs_app.command("retry")
def retry_run(run_id: Annotated[str, typer.Argument(help="The run's id.")]) -> None:
    """Send a queued run to the workers now; submit a failed or cancelled run's message again
    (a new run in the same conversation). A run a worker holds is left alone."""
    from shared.errors import Conflict
    from shared.runs import service, states
    from shared.runs.schemas import RunCreate

    async def work(uow: Any) -> str:
        run = await _load(uow.session, run_id)
        if run.status == states.QUEUED:
            states.dispatch(run, uow.dispatcher)
            return f"{run_id}: sent to the workers again"
        if run.status in (states.FAILED, states.CANCELLED):
            body = RunCreate(
                message=run.input["message"],
                conversation_id=run.conversation_id,
                webhook_url=run.webhook_url,
                metadata=run.meta or None,
                agent_id=run.agent_id,
            )
            new, _ = await service.submit(uow.session, uow.dispatcher, run.user_id, body, None)
            return f"{run_id}: submitted again as {new.id}"
        raise Conflict(f"run is {run.status}: nothing to retry")

    typer.echo(in_unit_of_work(work))


@webhooks_app.command("redeliver")
def redeliver(run_id: Annotated[str, typer.Argument(help="The ended run's id.")]) -> None:
    """Send an ended run's webhook again, as a fresh round of attempts."""
    from shared.webhooks import service

    async def work(uow: Any) -> str:
        run = await _load(uow.session, run_id)
        message = await service.redeliver(uow.session, uow.dispatcher, run.user_id, run_id)
        return str(message.id)

    typer.echo(f"{run_id}: webhook {in_unit_of_work(work)} queued for delivery")
