"""A worker process's Prometheus metrics, served on its own port (WORKER_METRICS_PORT).

Why a port per process and not prometheus-client's multiprocess mode: a Parley worker process
is one Celery worker on the threads pool, so every turn, model call and delivery it runs
happens inside that one long-lived process and its in-memory registry is exact. Multiprocess
mode exists for pre-forked children that come and go (gunicorn, Celery prefork); it would cost
a file write per observation, a shared directory to wipe at each start and aggregated gauges
that lose the per-process view. Process N of `parley worker` listens on WORKER_METRICS_PORT +
N - 1 (the supervisor hands each child its own port), so Prometheus scrapes each process as one
target; unset means no server and no cost beyond the in-memory counters.

Labels carry only bounded, operator-chosen values: model names from the configuration, tool
names the worker itself offered, outcomes and statuses from fixed sets. Never a user, a run id
or text.
"""

from __future__ import annotations

import logging

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import start_http_server

from worker.agent.model import Usage

log = logging.getLogger(__name__)

# Seconds: from a fast tool call to a run that reaches RUN_TIMEOUT_SECONDS.
TURN_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600)
CALL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
WAIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

# Where a tool name the model made up is counted (it is model output, so never a label).
UNKNOWN_TOOL = "unknown"

TURNS_IN_FLIGHT = Gauge(
    "parley_worker_turns_in_flight",
    "Turns this worker process is running right now.",
)
TURNS = Counter(
    "parley_worker_turns",
    "Turn attempts this process ran to an end, by how they ended (completed, failed, "
    "cancelled; lease_lost: another worker took the run; handed_back: retried later; "
    "crashed: not even the failure could be recorded).",
    ["status"],
)
TURN_DURATION = Histogram(
    "parley_worker_turn_duration_seconds",
    "Time from a turn attempt's claim to its recorded ending, by how it ended.",
    ["status"],
    buckets=TURN_BUCKETS,
)
QUEUE_WAIT = Histogram(
    "parley_worker_queue_wait_seconds",
    "Time from a run's creation to its first start on a worker (as seen by the claimer).",
    buckets=WAIT_BUCKETS,
)
MODEL_CALLS = Counter(
    "parley_worker_model_calls",
    "Requests to the OpenAI-compatible endpoint, by model and outcome (ok or the error code; "
    "each retry counts).",
    ["model", "outcome"],
)
MODEL_CALL_DURATION = Histogram(
    "parley_worker_model_call_duration_seconds",
    "Time of one request to the model endpoint, until its stream ends, by model.",
    ["model"],
    buckets=CALL_BUCKETS,
)
MODEL_TOKENS = Counter(
    "parley_worker_model_tokens",
    "Tokens the model endpoint reported, by model and kind (prompt, completion).",
    ["model", "kind"],
)
TOOL_CALLS = Counter(
    "parley_worker_tool_calls",
    "Tool calls run, by tool and outcome (ok; error: the tool refused, the model sees why; "
    "invalid_arguments; crashed: an outage, the turn is retried).",
    ["tool", "outcome"],
)
TOOL_CALL_DURATION = Histogram(
    "parley_worker_tool_call_duration_seconds",
    "Time of one tool call over MCP, by tool.",
    ["tool"],
    buckets=CALL_BUCKETS,
)
WEBHOOK_DELIVERIES = Counter(
    "parley_worker_webhook_deliveries",
    "Webhook delivery attempts this process made, by outcome (delivered, http_error, "
    "timeout, connection_error, refused, gone).",
    ["outcome"],
)
WEBHOOK_DURATION = Histogram(
    "parley_worker_webhook_delivery_duration_seconds",
    "Time of one webhook delivery attempt (DNS, connect, send, answer).",
    buckets=CALL_BUCKETS,
)
LEASE_LOSSES = Counter(
    "parley_worker_lease_losses",
    "Turns this process stopped because another worker took their run over.",
)
SWEEPER_RUNS = Counter(
    "parley_worker_sweeper_runs",
    "Runs the sweeper acted on, by action (redispatched; failed or cancelled: ended after "
    "their workers were lost).",
    ["action"],
)


def tool_label(name: str, offered: frozenset[str]) -> str:
    """The tool's name if the worker offered it, else UNKNOWN_TOOL."""
    return name if name in offered else UNKNOWN_TOOL


def serve(port: int | None, address: str, registry: CollectorRegistry = REGISTRY) -> int | None:
    """Serve the registry on address:port; returns the port, None when off or not possible.

    A taken port is logged, not fatal: a worker without metrics still runs turns.
    """
    if port is None:
        return None
    try:
        server, _thread = start_http_server(port, address, registry)
    except OSError as exc:
        log.error("worker metrics: cannot listen on %s:%d (%s); serving none", address, port, exc)
        return None
    bound = int(server.server_address[1])
    log.info("worker metrics on http://%s:%d/metrics", address, bound)
    return bound


def turn_ended(status: str, seconds: float) -> None:
    """One turn attempt ended (`status`: the run's, or lease_lost / handed_back)."""
    TURNS.labels(status).inc()
    TURN_DURATION.labels(status).observe(seconds)
    if status == "lease_lost":
        LEASE_LOSSES.inc()


def model_call(model: str, outcome: str, seconds: float, usage: Usage) -> None:
    """One request to the model endpoint ended with `outcome` (ok, an error code, cancelled)."""
    MODEL_CALLS.labels(model, outcome).inc()
    MODEL_CALL_DURATION.labels(model).observe(seconds)
    if usage.prompt_tokens:
        MODEL_TOKENS.labels(model, "prompt").inc(usage.prompt_tokens)
    if usage.completion_tokens:
        MODEL_TOKENS.labels(model, "completion").inc(usage.completion_tokens)


def tool_call(tool: str, outcome: str, seconds: float | None) -> None:
    """One tool call ended with `outcome`; `seconds` None when it never reached the tool."""
    TOOL_CALLS.labels(tool, outcome).inc()
    if seconds is not None:
        TOOL_CALL_DURATION.labels(tool).observe(seconds)
