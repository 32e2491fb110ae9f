"""The retry plan: backoff from WEBHOOK_RETRY_SCHEDULE with full jitter; 410 stops at once."""

from __future__ import annotations

import random

from shared.webhooks import outbox
from shared.webhooks.outbox import AttemptResult, plan

SCHEDULE = [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]


def result(outcome: str, status: int | None = None) -> AttemptResult:
    return AttemptResult(outcome, status, None, 1)


def test_eight_attempts_with_delays_jittered_under_the_schedule() -> None:
    rng = random.Random(7)
    failure = result(outbox.HTTP_ERROR, 500)
    for attempt, ceiling in enumerate(SCHEDULE, start=1):
        delays = []
        for _ in range(200):
            status, delay = plan(failure, attempt, SCHEDULE, rng)
            assert status == outbox.PENDING and delay is not None
            delays.append(delay)
        assert 0 <= min(delays) and max(delays) <= ceiling
        assert max(delays) - min(delays) > ceiling / 2  # full jitter spreads across the range
    assert plan(failure, len(SCHEDULE) + 1, SCHEDULE, rng) == (outbox.FAILED, None)


def test_timeouts_and_connection_errors_retry() -> None:
    rng = random.Random(1)
    for outcome in (outbox.TIMEOUT, outbox.CONNECTION_ERROR, outbox.HTTP_ERROR):
        assert plan(result(outcome), 1, SCHEDULE, rng)[0] == outbox.PENDING


def test_success_gone_and_refused_end_the_round() -> None:
    rng = random.Random(1)
    assert plan(result(outbox.OK, 204), 1, SCHEDULE, rng) == (outbox.DELIVERED, None)
    assert plan(result(outbox.GONE, 410), 1, SCHEDULE, rng) == (outbox.FAILED, None)
    assert plan(result(outbox.REFUSED), 1, SCHEDULE, rng) == (outbox.FAILED, None)
