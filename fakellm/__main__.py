"""`python -m fakellm`: serve the fake in the foreground (the benchmark runs it so)."""

from __future__ import annotations

import argparse

from fakellm.server import FakeLLM


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m fakellm",
        description="Run the fake OpenAI-compatible chat-completions server in the foreground.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each reply")
    parser.add_argument("--access-log", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    FakeLLM(host=args.host, port=args.port, latency=args.latency).serve_forever(
        access_log=args.access_log
    )


if __name__ == "__main__":
    main()
