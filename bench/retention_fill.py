"""Fill a fresh PostgreSQL database with a realistic history, server-side and fast.

Every row is computed by PostgreSQL from `generate_series` (INSERT ... SELECT), never sent from
Python: ids in Parley's own format (`shared.ids`: 48-bit milliseconds then 80 pseudo-random bits,
Crockford base32) so they sort by time as the app's do, users with a skewed share of the
conversations (a few heavy users, a long tail), conversations of several turns spread over the
days, each run with its two messages and its events. The schema is the app's own
(`alembic upgrade head`), constraints and indexes included; only the foreign-key triggers are
off while loading (`session_replication_role = replica`: the rows are consistent by construction).
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import sqlalchemy as sa

from shared.ids import _ALPHABET
from tests.stack import BIN, ROOT

log = logging.getLogger("bench.retention")

EVENTS_PER_RUN = 20  # queued, in_progress, 2 tool calls, 14 deltas, message, ending
TURNS_PER_CONVERSATION = 10
ACTIVE_CONVERSATIONS = 1000  # conversations taking turns at once: a turn every few minutes each
RUNS_PER_USER = 100  # on average; the skew gives the first users far more
CHUNK_RUNS = 10_000
FILL_CONNECTIONS = 2


@dataclass(frozen=True)
class Shape:
    """How much history, over how many days."""

    runs: int
    days: int
    start_ms: int  # epoch milliseconds of the first run

    @property
    def conversations(self) -> int:
        return self.runs // TURNS_PER_CONVERSATION

    @property
    def users(self) -> int:
        return max(10, self.runs // RUNS_PER_USER)

    @property
    def events(self) -> int:
        return self.runs * EVENTS_PER_RUN

    @property
    def step_ms(self) -> int:
        """Milliseconds between two consecutive runs (all users together)."""
        return self.days * 86_400_000 // self.runs

    @classmethod
    def at(cls, scale: float, days: int, now_ms: int) -> Shape:
        block = ACTIVE_CONVERSATIONS * TURNS_PER_CONVERSATION
        runs = max(block, round(1_000_000 * scale) // block * block)
        return cls(runs, days, now_ms - days * 86_400_000)


def migrate(url: str) -> None:
    """The app's schema, as `parley release` creates it."""
    subprocess.run(
        [str(BIN / "alembic"), "upgrade", "head"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        check=True,
        capture_output=True,
    )


def _id_function() -> str:
    """`bench_fill.id(prefix, ms, salt)`: shared.ids.new_id's format, deterministic in salt."""
    chars = [f"substr(a, ((ms >> {5 * k}) & 31)::int + 1, 1)" for k in range(9, -1, -1)]
    chars += [f"substr(a, ((r1 >> {5 * k}) & 31)::int + 1, 1)" for k in range(7, -1, -1)]
    chars += [f"substr(a, ((r2 >> {5 * k}) & 31)::int + 1, 1)" for k in range(7, -1, -1)]
    return f"""
CREATE FUNCTION bench_fill.id(prefix text, ms bigint, salt bigint) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  a text := '{_ALPHABET}';
  h text := md5(prefix || salt::text);
  r1 bigint := ('x' || substr(h, 1, 10))::bit(40)::bigint;
  r2 bigint := ('x' || substr(h, 11, 10))::bit(40)::bigint;
BEGIN
  RETURN prefix || '_' || {" || ".join(chars)};
END $$;
"""


def _chunk_table(shape: Shape) -> str:
    """The chunk's runs, computed once into a temporary table: number i, conversation c, turn k,
    time and ids, and the run object its run.* events carry.

    Runs come in blocks of ACTIVE_CONVERSATIONS conversations taking turns round-robin, so a
    conversation's turns are minutes apart and its messages never interleave with the next turn.
    """
    block = ACTIVE_CONVERSATIONS * TURNS_PER_CONVERSATION
    return f"""
CREATE TEMPORARY TABLE chunk ON COMMIT DROP AS
SELECT r.*, jsonb_build_object('run', jsonb_build_object(
         'id', run_id, 'object', 'run', 'conversation_id', conv_id, 'status', status,
         'input', jsonb_build_object('message', 'Add a task to buy milk number ' || i),
         'output', NULL, 'error', NULL, 'metadata', '{{}}'::jsonb, 'agent_id', NULL,
         'usage', '{{"prompt_tokens": 412, "completion_tokens": 38, "total_tokens": 450}}'::jsonb,
         'created_at', created, 'started_at', created, 'finished_at', NULL,
         'required_action', NULL, 'multitask_strategy', 'enqueue')) AS run_json
FROM (
  SELECT i, c, k, ms, user_id,
         bench_fill.id('run', ms, i) AS run_id,
         bench_fill.id('conv', conv_ms, c) AS conv_id,
         to_timestamp(ms / 1000.0) AS created,
         CASE WHEN i %% 50 = 7 THEN 'cancelled' WHEN i %% 25 = 3 THEN 'failed'
              ELSE 'completed' END AS status
  FROM (
    SELECT i, c, k, {shape.start_ms}::bigint + i * {shape.step_ms} AS ms,
           {shape.start_ms}::bigint + (i - k * {ACTIVE_CONVERSATIONS}) * {shape.step_ms} - 1
             AS conv_ms,
           'user-' || lpad(floor({shape.users} * power((c * 0.6180339887498949) %% 1, 3))
                           ::int::text, 6, '0') AS user_id
    FROM (
      SELECT i, (i / {block}) * {ACTIVE_CONVERSATIONS} + i %% {ACTIVE_CONVERSATIONS} AS c,
             (i %% {block}) / {ACTIVE_CONVERSATIONS} AS k
      FROM generate_series(%(lo)s::bigint, %(hi)s::bigint - 1) AS i
    ) n
  ) t
) r
"""


def _statements(shape: Shape) -> list[str]:
    """The chunk table, then conversations, runs, messages and events from it."""
    turn_ms = min(3000, shape.step_ms * ACTIVE_CONVERSATIONS // 2)
    finished = f"created + interval '{turn_ms} milliseconds'"
    conversations = f"""
INSERT INTO conversations (id, user_id, title, metadata, created_at, updated_at)
SELECT conv_id, user_id, 'Conversation ' || c, '{{}}'::jsonb, created - interval '1 ms',
       created + interval '{TURNS_PER_CONVERSATION * ACTIVE_CONVERSATIONS * shape.step_ms} ms'
FROM chunk WHERE k = 0
"""
    runs = f"""
INSERT INTO runs (id, user_id, conversation_id, status, input, output, error, usage, metadata,
                  multitask_strategy, attempts, lease_token, lease_until, cancel_requested,
                  dispatched_at, created_at, started_at, finished_at, last_event_seq)
SELECT run_id, user_id, conv_id, status, run_json->'run'->'input',
       CASE WHEN status = 'completed' THEN
         jsonb_build_object('response', 'Done. add_task: "buy milk number ' || i || '" (added).')
       END,
       CASE WHEN status = 'failed' THEN
         '{{"code": "model_error", "message": "the model answered 500"}}'::jsonb END,
       run_json->'run'->'usage', '{{}}'::jsonb, 'enqueue', 1, NULL, NULL, status = 'cancelled',
       created, created, created + interval '5 ms', {finished}, {EVENTS_PER_RUN}
FROM chunk
"""
    messages = f"""
INSERT INTO messages (id, conversation_id, run_id, role, content, tool_calls, status, created_at)
SELECT bench_fill.id('msg', ms + CASE WHEN role = 'user' THEN 5 ELSE {turn_ms} END,
                     2 * i + (role = 'assistant')::int),
       conv_id, run_id, role,
       CASE WHEN role = 'user' THEN 'Add a task to buy milk number ' || i
            ELSE 'Done. add_task: "buy milk number ' || i || '" (added).' END,
       CASE WHEN role = 'user' THEN '[]'::jsonb ELSE jsonb_build_array(jsonb_build_object(
         'id', 'tc_' || i, 'tool_name', 'add_task',
         'arguments', jsonb_build_object('title', 'buy milk number ' || i))) END,
       'completed', created
FROM chunk CROSS JOIN (VALUES ('user'), ('assistant')) AS m(role)
"""
    tool_call = """jsonb_build_object('tool_call', jsonb_build_object(
         'id', 'tc_' || i, 'tool_name', 'add_task', 'is_error', false,
         'arguments', jsonb_build_object('title', 'buy milk number ' || i),
         'result', CASE seq WHEN 4 THEN jsonb_build_object('id', i, 'status', 'created',
                   'title', 'buy milk number ' || i) END))"""
    message = """jsonb_build_object('message', jsonb_build_object(
         'id', 'msg_' || i, 'role', 'assistant', 'status', 'completed', 'created_at', created,
         'content', 'Done. add_task: "buy milk number ' || i || '" (added).'))"""
    last = EVENTS_PER_RUN
    events = f"""
INSERT INTO run_events (run_id, seq, type, data, created_at)
SELECT run_id, seq,
       CASE WHEN seq = 1 THEN 'run.queued' WHEN seq = 2 THEN 'run.in_progress'
            WHEN seq = 3 THEN 'tool_call.started' WHEN seq = 4 THEN 'tool_call.completed'
            WHEN seq = {last - 1} THEN 'message.completed'
            WHEN seq = {last} THEN 'run.' || status ELSE 'message.delta' END,
       CASE WHEN seq = 1 THEN jsonb_set(run_json, '{{run,status}}', '"queued"')
            WHEN seq = 2 THEN jsonb_set(run_json, '{{run,status}}', '"in_progress"')
            WHEN seq = {last} THEN run_json
            WHEN seq IN (3, 4) THEN {tool_call}
            WHEN seq = {last - 1} THEN {message}
            ELSE jsonb_build_object('delta', (ARRAY['Done', '. add', '_task', ': "buy', ' milk',
                 ' number', ' ', i::text, '"', ' (added', ').', ' ', ' ', ' '])[seq - 4]) END,
       created + seq * interval '100 ms'
FROM chunk CROSS JOIN generate_series(1, {last}) AS s(seq)
"""
    return [_chunk_table(shape), conversations, runs, messages, events]


def _fill_chunk(engine: sa.Engine, statements: list[str], lo: int, hi: int) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
        table, *inserts = statements  # the chunk table's %% are psycopg's, with lo and hi
        conn.exec_driver_sql(table, {"lo": lo, "hi": hi})
        for statement in inserts:
            conn.exec_driver_sql(statement)


def fill(engine: sa.Engine, shape: Shape, progress: Callable[[str], None]) -> float:
    """Load the whole history; returns the seconds it took (VACUUM and ANALYZE included).

    Two connections fill chunks side by side (one per core of the benchmark machine).
    """
    started = time.monotonic()
    statements = _statements(shape)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA bench_fill")
        conn.exec_driver_sql(_id_function())
    done = 0

    def chunk(lo: int) -> None:
        nonlocal done
        hi = min(shape.runs, lo + CHUNK_RUNS)
        _fill_chunk(engine, statements, lo, hi)
        done += hi - lo
        elapsed = time.monotonic() - started
        progress(
            f"filled {done:,} of {shape.runs:,} runs ({done * EVENTS_PER_RUN:,} events) "
            f"in {elapsed:.0f} s, about {elapsed / done * (shape.runs - done):.0f} s to go"
        )

    with ThreadPoolExecutor(FILL_CONNECTIONS) as pool:
        list(pool.map(chunk, range(0, shape.runs, CHUNK_RUNS)))
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA bench_fill CASCADE")
    # Autovacuum would get there in production; a bulk load has to ask (visibility map, stats).
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("conversations", "runs", "messages", "run_events"):
            conn.exec_driver_sql(f"VACUUM (ANALYZE) {table}")
    return time.monotonic() - started


def table_sizes(engine: sa.Engine) -> list[tuple[str, int, str, str]]:
    """(table, rows, heap size, index size) of the tables the bench filled."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT relname, reltuples::bigint, pg_size_pretty(pg_table_size(oid)), "
            "pg_size_pretty(pg_indexes_size(oid)) FROM pg_class WHERE relname IN "
            "('conversations', 'runs', 'messages', 'run_events') ORDER BY relname"
        )
        return [(str(n), int(t), str(h), str(i)) for n, t, h, i in rows]
