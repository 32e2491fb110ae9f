"""Count the SQL a turn costs, transaction by transaction: `python -m tests.sqlbudget URL LLM`.

Runs one turn in this process through the code the API and the worker run (`runs.submit` in a
unit of work, `execute_run` on a worker runtime, the long-poll's read), with an engine hook
that records every statement and every commit. Run as its own process (settings from its
environment: DATABASE_URL, OPENAI_BASE_URL …, like a worker) and prints the transactions as
JSON. The SQL budget test and the benchmark both use it.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import event

DELTA = "message.delta"


@dataclass
class Transaction:
    """The statements of one committed (or rolled back) transaction, in order."""

    label: str = ""
    statements: list[str] = field(default_factory=list)
    delta_batch: bool = False


@dataclass
class Recorder:
    """Collects transactions from an engine's events, labelled by the phase running them."""

    phase: str = "setup"
    open: dict[int, Transaction] = field(default_factory=dict)
    done: list[Transaction] = field(default_factory=list)

    def attach(self, engine: Any) -> None:
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._end)
        event.listen(engine, "rollback", self._end)

    def _statement(
        self, conn: Any, _cursor: Any, statement: str, _params: Any, ctx: Any, _many: bool
    ) -> None:
        words = statement.split()
        if not words or words[0].upper() in {"BEGIN", "PRAGMA", "COMMIT", "ROLLBACK"}:
            return
        txn = self.open.setdefault(id(conn), Transaction(self.phase))
        txn.statements.append(_summary(words))
        if "run_events" in statement and words[0].upper() == "INSERT":
            rows = getattr(ctx, "compiled_parameters", None) or []
            txn.delta_batch = {row.get("type") for row in rows} == {DELTA}

    def _end(self, conn: Any) -> None:
        txn = self.open.pop(id(conn), None)
        if txn is not None and txn.statements:
            self.done.append(txn)


def _summary(words: list[str]) -> str:
    """`UPDATE runs`, `INSERT INTO messages`, `SELECT … FROM tasks`: what a statement touches."""
    verb = words[0].upper()
    upper = [w.upper() for w in words]
    if verb == "UPDATE":
        return f"UPDATE {words[1]}"
    if verb == "INSERT":
        return f"INSERT {words[2]}"
    if verb == "DELETE":
        return f"DELETE {words[2]}"
    if "FROM" in upper:
        return f"{verb} {words[upper.index('FROM') + 1].strip('(),')}"
    return verb


def profile_turn(message: str) -> list[Transaction]:
    """One turn (submit, execute, read), every transaction recorded."""
    from shared.config import get_settings
    from shared.runs import service as runs
    from shared.runs.schemas import RunCreate
    from shared.uow import unit_of_work
    from worker.runs.execute import execute_run
    from worker.runtime import Runtime

    rt = Runtime(get_settings())
    recorder = Recorder()
    recorder.attach(rt.database.engine.sync_engine)

    async def turn() -> None:
        recorder.phase = "submit"
        async with unit_of_work(rt.database) as uow:
            run, _ = await runs.submit(
                uow.session, uow.dispatcher, "budget-user", RunCreate(message=message), None
            )
        recorder.phase = "worker"
        await execute_run(rt, run.id)
        recorder.phase = "read"
        async with unit_of_work(rt.database) as uow:
            await runs.get(uow.session, "budget-user", run.id)

    try:
        rt.call(turn())
    finally:
        rt.close()
    return recorder.done


def main() -> None:
    message = sys.argv[1] if len(sys.argv) > 1 else "Add a task to buy milk"
    print(json.dumps([asdict(t) for t in profile_turn(message)]))


if __name__ == "__main__":
    main()
