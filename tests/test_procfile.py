"""The Procfile starts as written: `parley release && honcho start` serves turns, stops on SIGTERM.

Flower is optional: without FLOWER_BASIC_AUTH its process says so and idles, since honcho stops
every process as soon as one exits.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from fakellm import FakeLLM
from tests.conftest import TIERS, build_stack, teardown_stack
from tests.stack import BIN


@pytest.mark.parametrize("tier", TIERS)
def test_honcho_start_runs_the_procfile(
    tier: str, llm: FakeLLM, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    stack = build_stack(tier, tmp_path, llm)
    ok = False
    try:
        stack.migrate()  # the release step, run separately as the Procfile says
        honcho = stack.start_proc(
            "honcho",
            [str(BIN / "honcho"), "start"],
            env={
                # The project's virtualenv, as activated: the Procfile runs `parley …`.
                "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
                "PORT": str(stack.api_port),
                "WORKER_PROCESSES": "1",
                "FLOWER_BASIC_AUTH": "",
            },
        )
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{stack.api_url}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert honcho.popen is not None and honcho.popen.poll() is None, honcho.log()
            assert time.monotonic() < deadline, honcho.log()
            time.sleep(0.2)
        with stack.client() as api:
            run = api.submit("hello from honcho")
            assert api.wait(run["id"], seconds=60)["status"] == "completed"
        assert "Flower is off: set FLOWER_BASIC_AUTH" in honcho.log()
        stack.kill("honcho", sig=signal.SIGTERM)
        assert honcho.popen is not None and honcho.popen.returncode is not None
        assert "Traceback" not in honcho.log(), honcho.log()
        ok = True
    finally:
        teardown_stack(stack, failed=not ok or request.session.testsfailed > 0)
