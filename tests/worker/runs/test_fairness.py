"""The per-user cap (MAX_ACTIVE_RUNS_PER_USER): one user's flood of turns runs a few at a time,
in order, while another user's turn goes straight through.

The sweeper's re-dispatch is pushed out of reach (RUN_REDISPATCH_SECONDS=120), so the flood can
only finish in time if each ending sends its user's next waiting turn.
"""

from __future__ import annotations

import threading
import time

from tests.worker.conftest import StackFactory
from tests.worker.support import ago, insert_run, new_conversation, wait_for

CAP = 3
FLOOD = 18
TURN_SECONDS = 0.6  # each model call of a flood turn


def test_one_users_flood_runs_under_the_cap_and_another_user_goes_through(
    private_stack: StackFactory,
) -> None:
    stack = private_stack(
        extra_env={"MAX_ACTIVE_RUNS_PER_USER": str(CAP), "RUN_REDISPATCH_SECONDS": "120"}
    )
    flooder, other = stack.client(), stack.client()

    assert other.turn("Add a task to warm up")["status"] == "completed"
    idle_started = time.monotonic()
    assert other.turn("Add a task to measure an idle turn")["status"] == "completed"
    idle = time.monotonic() - idle_started

    # Watch the flooder's turns in progress (and waiting) while the flood runs.
    samples: list[tuple[int, int]] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            counts = dict(
                stack.sql(
                    "select status, count(*) from runs where user_id = :u "
                    "and status in ('queued', 'in_progress') group by status",
                    u=flooder.user,
                )
            )
            samples.append((int(counts.get("in_progress", 0)), int(counts.get("queued", 0))))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    flood_started = time.monotonic()
    runs = [
        flooder.submit(f"Add a task to flood {i} [[latency={TURN_SECONDS}]]") for i in range(FLOOD)
    ]
    time.sleep(0.5)  # the flood has filled its slots and the rest wait
    [(waiting,)] = stack.sql(
        "select count(*) from runs where user_id = :u and status = 'queued'", u=flooder.user
    )
    other_started = time.monotonic()
    assert other.turn("Add a task to cut in line")["status"] == "completed"
    other_took = time.monotonic() - other_started

    final = [flooder.wait(r["id"], 90) for r in runs]
    flood_took = time.monotonic() - flood_started
    done.set()
    watcher.join(timeout=5)
    peak = max(n for n, _ in samples)
    busy = [n for n, queued in samples if queued > 0]
    print(
        f"\n[fairness] idle turn {idle:.2f} s, during the flood {other_took:.2f} s; "
        f"flood of {FLOOD} at cap {CAP}: {flood_took:.1f} s, peak {peak} in progress, "
        f"{sum(busy) / len(busy):.2f} on average while some waited, "
        f"{waiting} waiting when the other user submitted"
    )
    assert all(r["status"] == "completed" for r in final), [r["status"] for r in final]
    assert waiting >= FLOOD - CAP - 3  # the cap held the flood back
    assert peak <= CAP
    # The other user's turn did not wait behind the flood (which needs FLOOD / CAP = 6 rounds
    # of two 0.6 s calls). Compared with the flood's own time, as a loaded machine slows both.
    assert other_took < flood_took / 3
    # Each ending sent the next waiting turn: the slots stayed full while turns waited, and no
    # sweep was needed (it would take RUN_REDISPATCH_SECONDS = 120 s).
    # (Slots lost between endings would leave about one busy; the claims' own latency on a
    # loaded machine keeps the average a little under CAP.)
    assert sum(busy) / len(busy) > CAP / 2
    assert flood_took < 120
    # In order: the flooder's turns started in the order they were submitted, cap by cap.
    started = [r["started_at"] for r in final]
    order = sorted(range(FLOOD), key=lambda i: started[i])
    assert all(started[i] <= started[j] for i in range(FLOOD) for j in range(i + CAP, FLOOD)), order


def test_a_cancel_through_the_api_frees_the_slot_for_a_turn_another_process_turned_away(
    private_stack: StackFactory,
) -> None:
    """The user is at the cap with two long turns; two more wait, planted as a peer worker
    process leaves the runs it refused (queued, dispatched, no message left), so no process here
    remembers them. Cancelling one long turn through the API must start the oldest waiting one
    at once: sweeps are a minute apart and a queued run is re-sent only after two."""
    stack = private_stack(
        extra_env={
            "MAX_ACTIVE_RUNS_PER_USER": "2",
            "SWEEP_INTERVAL_SECONDS": "60",
            "RUN_REDISPATCH_SECONDS": "120",
        }
    )
    user = stack.client()
    long = [user.submit(f"Add a task to hold a slot {i} [[latency=60]]") for i in range(2)]

    def started() -> bool:
        return all(user.get(f"/v1/runs/{r['id']}").json()["status"] == "in_progress" for r in long)

    wait_for("both long turns to start", started)
    waiting = [
        insert_run(
            stack,
            user.user,
            new_conversation(user),
            f"Add a task to wait for a slot {i}",
            status="queued",
            dispatched_at=ago(1),
        )
        for i in range(2)
    ]
    time.sleep(1)
    assert [user.get(f"/v1/runs/{w}").json()["status"] for w in waiting] == ["queued", "queued"]

    cancelled_at = time.monotonic()
    response = user.post(f"/v1/runs/{long[0]['id']}/cancel")
    assert response.status_code == 200, response.text
    first = user.wait(waiting[0], 30)
    took = time.monotonic() - cancelled_at
    print(f"\n[fairness] a waiting turn completed {took:.1f} s after the cancel")
    assert first["status"] == "completed", first
    assert user.get(f"/v1/runs/{long[0]['id']}").json()["status"] == "cancelled"
    # Its own ending freed the slot again: the second waiting turn follows.
    assert user.wait(waiting[1], 30)["status"] == "completed"
    assert took < 30  # well before any sweep (60 s) or re-send (120 s) could have sent it

    assert user.post(f"/v1/runs/{long[1]['id']}/cancel").status_code == 200
    assert user.wait(long[1]["id"], 30)["status"] == "cancelled"
