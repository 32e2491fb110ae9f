"""Long-polls (`?wait=`, cancel, the chat API): answer as soon as a run is terminal (or waits
for a person's approval), from that event when it arrives.

The run is read once; after that the waiter sleeps on the run's events (Redis pub/sub, or the
embedded poller) and answers from the terminal event's payload, which is the Run exactly as
GET shows it (it commits with the terminal status). Only a silent stretch or an overflowed
inbox makes it read the run again. No transaction stays open while waiting (SQLite would hold
its write lock).
"""

from __future__ import annotations

import time

from shared.db import Database
from shared.events.hub import EventHub
from shared.events.schemas import RUN_REQUIRES_ACTION
from shared.runs import service, states
from shared.runs.schemas import RunOut

# A run waiting for a person is answered at once too: the caller is the one who must act.
SETTLED = states.TERMINAL | {states.RunStatus.REQUIRES_ACTION}
# Re-read the run now and then even without an event (belt and braces; events wake us).
RECHECK_SECONDS = 5.0


async def wait_for_run(
    database: Database, hub: EventHub, user: str, run_id: str, wait: float
) -> RunOut:
    """The run once it is terminal, or as it is after `wait` seconds."""
    deadline = time.monotonic() + wait
    async with hub.changes(run_id) as changes:
        while True:
            async with database.sessions() as session:
                run = await service.get(session, user, run_id)
            remaining = deadline - time.monotonic()
            if run.status in SETTLED or remaining <= 0:
                return RunOut.model_validate(run, from_attributes=True)
            changes.start_at(run.last_event_seq)
            while remaining > 0:
                events = await changes.next(min(remaining, RECHECK_SECONDS))
                if events is None:
                    break  # nothing came, or too much: read the run again
                for event in events:
                    if event.terminal or event.type == RUN_REQUIRES_ACTION:
                        return RunOut.model_validate(event.data["run"])
                remaining = deadline - time.monotonic()
