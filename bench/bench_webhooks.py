"""Webhook delivery benchmark: `python -m bench.bench_webhooks [--tier embedded|services]`.

Two figures, each against a baseline measured in the same run on the same receiver:

* throughput: deliveries per second through the whole pipeline (broker → worker → claim →
  sign → POST → record) for N outbox rows at once, vs a bare httpx client POSTing the same
  body to the same receiver with the same connection limit;
* latency: run completion (the run's `finished_at`) → the receiver has the webhook, p50/p99,
  over real turns, vs one bare POST round trip to the same receiver.

The receiver runs in a process of its own (uvicorn), so it never shares a GIL with the client.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.orm import Session

from bench.client import make_client, wait
from bench.infra import Background, build_stack, start_fake_llm, teardown_stack
from bench.stats import Summary, ratio
from shared.celery_app import create_celery
from shared.config import Settings
from shared.conversations.models import Conversation
from shared.db import sync_url, utcnow
from shared.runs.models import Run
from shared.webhooks import outbox
from shared.webhooks.models import WebhookMessage, WebhookSecret
from shared.webhooks.signing import new_secret
from tests.stack import free_port
from worker.webhooks.sender import MAX_IN_FLIGHT

THROUGHPUT_N = 2000
LATENCY_N = 100
LATENCY_CONCURRENCY = 4
PUBLISH_THREADS = 8
WARM_N = 100
DRAIN_TIMEOUT = 300.0


# -- the receiver (its own process) ---------------------------------------------------------
def serve_receiver(port: int) -> None:
    """A fast webhook receiver: records arrival times per tag; GET /stats/{tag} reports them."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    seen: dict[str, list[list[Any]]] = {}

    async def hook(request: Request) -> Response:
        body = await request.body()
        at = time.time()
        tag = request.path_params["tag"]
        finished = None
        if tag == "latency":
            finished = json.loads(body)["data"]["run"]["finished_at"]
        seen.setdefault(tag, []).append([request.headers.get("webhook-id"), at, finished])
        return Response(status_code=204)

    async def stats(request: Request) -> JSONResponse:
        return JSONResponse(seen.get(request.path_params["tag"], []))

    app = Starlette(
        routes=[
            Route("/hook/{tag}", hook, methods=["POST"]),
            Route("/stats/{tag}", stats, methods=["GET"]),
        ]
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def start_receiver(workdir: Path) -> tuple[Background, str]:
    port = free_port()
    proc = Background(
        "receiver",
        [sys.executable, "-m", "bench.bench_webhooks", "--serve-receiver", str(port)],
        workdir / "receiver.log",
    ).start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{base}/stats/x", timeout=2).raise_for_status()
            return proc, base
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                proc.stop()
                raise RuntimeError("receiver did not start") from None
            time.sleep(0.05)


def received(base: str, tag: str) -> list[list[Any]]:
    rows: list[list[Any]] = httpx.get(f"{base}/stats/{tag}", timeout=30).json()
    return rows


def wait_received(base: str, tag: str, count: int, timeout: float) -> list[list[Any]]:
    deadline = time.monotonic() + timeout
    while True:
        rows = received(base, tag)
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.02)


# -- baselines -------------------------------------------------------------------------------
async def bare_throughput(url: str, body: bytes, n: int) -> float:
    """POSTs per second from one AsyncClient with the worker's connection limit."""
    limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=20)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        gate = asyncio.Semaphore(MAX_IN_FLIGHT)

        async def one() -> None:
            async with gate:
                (await client.post(url, content=body)).raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        return n / (time.perf_counter() - started)


async def bare_latency(url: str, body: bytes, n: int) -> Summary:
    """One POST's round trip (keep-alive), sequentially."""
    async with httpx.AsyncClient(timeout=30) as client:
        await client.post(url, content=body)
        samples = []
        for _ in range(n):
            started = time.perf_counter()
            (await client.post(url, content=body)).raise_for_status()
            samples.append(time.perf_counter() - started)
    return Summary.of(samples)


# -- Parley ----------------------------------------------------------------------------------
def seed_outbox(database_url: str, url: str, n: int) -> tuple[list[str], bytes]:
    """N ended runs with their outbox rows, as run_ended writes them; returns ids and a body.

    The user's secret exists beforehand, as it does for a real integration.
    """
    engine = sa.create_engine(sync_url(database_url), poolclass=sa.pool.NullPool)
    user = f"bench-{uuid.uuid4().hex[:8]}"
    ids: list[str] = []
    body = b""
    with Session(engine) as session, session.begin():
        session.add(WebhookSecret(user_id=user, secret=new_secret()))
        conversation = Conversation(user_id=user, title="bench", meta={})
        session.add(conversation)
        session.flush()
        now = utcnow()
        for i in range(n):
            run = Run(
                user_id=user,
                conversation_id=conversation.id,
                status="completed",
                input={"message": f"Add a task to bench {i}"},
                output={"response": f"Added bench {i}.", "tool_calls": []},
                meta={},
                webhook_url=url,
                created_at=now,
                started_at=now,
                finished_at=now,
            )
            session.add(run)
            session.flush()
            payload = outbox.event_for(run).model_dump_json()
            message = WebhookMessage(
                run_id=run.id,
                user_id=user,
                url=url,
                event_type="run.completed",
                payload=payload,
                status=outbox.PENDING,
                next_attempt_at=now,
                dispatched_at=now,
            )
            session.add(message)
            session.flush()
            ids.append(message.id)
            body = payload.encode()
    engine.dispose()
    return ids, body


def publish(env: dict[str, str], ids: list[str]) -> float:
    """Send webhooks.deliver for every id from a few threads; returns the seconds it took."""
    settings = Settings(database_url=env["DATABASE_URL"], redis_url=env.get("REDIS_URL"))
    app = create_celery(settings)
    started = time.perf_counter()
    with ThreadPoolExecutor(PUBLISH_THREADS) as pool:
        list(pool.map(lambda i: app.send_task(outbox.DELIVER_TASK, args=[i]), ids))
    return time.perf_counter() - started


async def parley_latency(api_url: str, url: str, n: int, receiver: str) -> Summary:
    """Real turns with a webhook: completion (finished_at) → the receiver has the POST."""
    async with make_client(api_url, LATENCY_CONCURRENCY * 2) as http:
        gate = asyncio.Semaphore(LATENCY_CONCURRENCY)

        async def one(i: int) -> None:
            async with gate:
                run = await http.post(
                    "/v1/runs", json={"message": f"Add a task to ping {i}", "webhook_url": url}
                )
                run.raise_for_status()
                await wait(http, run.json()["id"], 120)

        await asyncio.gather(*(one(i) for i in range(n)))
    rows = wait_received(receiver, "latency", n, 60)
    samples = [at - dt.datetime.fromisoformat(finished).timestamp() for _, at, finished in rows]
    return Summary.of(samples)


def run_bench(tier: str, n: int, latency_n: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-webhooks-{tier}-"))
    llm_proc, llm = start_fake_llm(workdir)
    receiver_proc, receiver = start_receiver(workdir)
    stack = build_stack(tier, workdir, llm)
    try:
        stack.start()
        # Warm both paths (worker runtime, DB pools, keep-alive connections) before measuring.
        warm, body = seed_outbox(stack.database_url, f"{receiver}/hook/warm", WARM_N)
        publish(stack.env, warm)
        wait_received(receiver, "warm", WARM_N, DRAIN_TIMEOUT)
        asyncio.run(bare_throughput(f"{receiver}/hook/bare-warm", body, WARM_N))

        bare_rate = asyncio.run(bare_throughput(f"{receiver}/hook/bare", body, n))
        ids, body = seed_outbox(stack.database_url, f"{receiver}/hook/flood", n)
        wall_start = time.time()
        publish_seconds = publish(stack.env, ids)
        rows = wait_received(receiver, "flood", n, DRAIN_TIMEOUT)
        elapsed = max(at for _, at, _ in rows) - wall_start if rows else float("nan")
        parley_rate = len(rows) / elapsed if rows else 0.0
        duplicates = len(rows) - len({r[0] for r in rows})

        bare_rtt = asyncio.run(bare_latency(f"{receiver}/hook/bare-rtt", body, latency_n))
        latency = asyncio.run(
            parley_latency(stack.api_url, f"{receiver}/hook/latency", latency_n, receiver)
        )
    finally:
        teardown_stack(stack)
        receiver_proc.stop()
        llm_proc.stop()
    return {
        "tier": tier,
        "deliveries": n,
        "delivered": len(rows),
        "duplicates": duplicates,
        "publish_seconds": publish_seconds,
        "parley_deliveries_per_s": parley_rate,
        "bare_posts_per_s": bare_rate,
        "throughput_ratio": ratio(parley_rate, bare_rate),
        "latency_p50_ms": latency.p50 * 1000,
        "latency_p99_ms": latency.p99 * 1000,
        "bare_rtt_p50_ms": bare_rtt.p50 * 1000,
        "bare_rtt_p99_ms": bare_rtt.p99 * 1000,
        "latency_p50_ratio": ratio(latency.p50, bare_rtt.p50),
        "latency_p99_ratio": ratio(latency.p99, bare_rtt.p99),
    }


def report(r: dict[str, Any]) -> None:
    print(
        f"webhooks, tier {r['tier']}: {r['delivered']}/{r['deliveries']} delivered, "
        f"{r['duplicates']} duplicates"
    )
    print(
        f"  throughput  {r['parley_deliveries_per_s']:8.0f} deliveries/s  vs bare httpx POST "
        f"{r['bare_posts_per_s']:8.0f}/s  = {r['throughput_ratio']:.2f}x  "
        f"(publishing {r['deliveries']} tasks took {r['publish_seconds']:.2f} s)"
    )
    print(
        f"  completion→delivery  p50 {r['latency_p50_ms']:7.1f} ms  p99 {r['latency_p99_ms']:7.1f}"
        f" ms  vs bare POST p50 {r['bare_rtt_p50_ms']:.2f} ms p99 {r['bare_rtt_p99_ms']:.2f} ms"
        f"  = {r['latency_p50_ratio']:.0f}x / {r['latency_p99_ratio']:.0f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tier", choices=["embedded", "services", "both"], default="embedded")
    parser.add_argument("--deliveries", type=int, default=THROUGHPUT_N)
    parser.add_argument("--turns", type=int, default=LATENCY_N)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--serve-receiver", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_receiver:
        serve_receiver(args.serve_receiver)
        return
    tiers = ["embedded", "services"] if args.tier == "both" else [args.tier]
    results = []
    for tier in tiers:
        result = run_bench(tier, args.deliveries, args.turns)
        report(result)
        results.append(result)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
