"""`parley dev` (`make run`) is honest about start-up: a taken port is refused before anything
starts, the banner appears only once the API answers, and Ctrl-C stops every part."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

from tests.stack import BIN, ROOT, STRIPPED_ENV_PREFIXES, TEST_SECRET, free_port


def dev_env(tmp_path: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(STRIPPED_ENV_PREFIXES)}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'parley.db'}",
        JWT_SECRET=TEST_SECRET,
        PORT=str(port),
        WORKER_PROCESSES="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def test_a_taken_port_is_refused_with_a_way_out(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [str(BIN / "parley"), "dev"],
            cwd=ROOT,
            env=dev_env(tmp_path, port),
            capture_output=True,
            text=True,
            timeout=60,
        )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert f"Port {port} on 127.0.0.1 is already in use" in output
    assert f"PORT={port + 1} make run" in output
    assert "Parley is running" not in output and "TOKEN" not in output
    assert not (tmp_path / "parley.db").exists()  # refused before migrating or starting anything


def test_the_banner_comes_once_ready_and_ctrl_c_stops_every_part(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "dev.log"
    with log.open("wb") as out:
        dev = subprocess.Popen(
            [str(BIN / "parley"), "dev"],
            cwd=ROOT,
            env=dev_env(tmp_path, port),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while "Stop with Ctrl-C." not in log.read_text():
            assert dev.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        text = log.read_text()
        assert f"Parley is running at http://127.0.0.1:{port}" in text
        assert "did not" not in text
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).status_code == 200
        dev.send_signal(signal.SIGINT)  # Ctrl-C, delivered to `parley dev` alone
        assert dev.wait(timeout=60) == 0, log.read_text()
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            raise AssertionError("the API still answers after Ctrl-C")
        except httpx.HTTPError:
            pass
        assert re.search(r"worker1 \(pid \d+\) stopped", log.read_text()), log.read_text()
    finally:
        if dev.poll() is None:
            os.killpg(dev.pid, signal.SIGKILL)
            dev.wait()
