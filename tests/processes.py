"""Starting the real `vitrina serve` on a free loopback port, and stopping it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def token(self) -> str:
        found = re.search(r"secret_[A-Za-z0-9_-]+", self.output())
        assert found, self.output()
        return found.group(0)


def interruptible() -> None:
    """``preexec_fn`` for a child that a test stops with SIGINT: the child
    takes SIGINT as Ctrl-C even when the suite was started with SIGINT
    ignored (``nohup``, ``cmd &`` in a script, some CI runners). An ignored
    signal stays ignored across exec, and Python then installs no
    KeyboardInterrupt handler; ``restore_signals`` resets only SIGPIPE and
    SIGXFSZ."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def stop(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGINT, as Ctrl-C; the process was started ``interruptible``."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


def start_serve(
    data_dir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    port: int | None = None,
    new_session: bool = False,
) -> Server:
    """Start `vitrina serve` on a free loopback port; with ``new_session`` in a
    process group of its own, so one signal reaches every process it starts."""
    port = port or free_port()
    log = data_dir.parent / f"serve-{port}.log"
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "vitrina",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        *args,
    ]
    environment = {**os.environ, "VITRINA_LOG_LEVEL": "warning", **(env or {})}
    with log.open("wb") as sink:
        # as make run does: a demo store and token first (printed into the log)
        demo = [sys.executable, "-m", "vitrina", "demo", "--data-dir", str(data_dir)]
        subprocess.run(
            demo,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**environment, "VITRINA_PORT": str(port)},
            check=False,
        )
        process = subprocess.Popen(
            command,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=new_session,
            preexec_fn=interruptible,
        )
    return Server(process, f"http://127.0.0.1:{port}", log)


def wait_until(condition: Callable[[], object], timeout: float = 10) -> bool:
    """Poll ``condition`` until it is true (True) or time runs out (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def wait_for(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> bool:
    """Poll ``url`` until it answers 200 (True), the process exits or time runs out (False)."""
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


def wait_ready(server: Server, timeout: float = 60) -> None:
    if not wait_for(server.base + "/readyz", server.process, timeout):
        raise AssertionError(f"vitrina serve did not get ready:\n{server.output()}")


@contextmanager
def vitrina_serve(
    data_dir: Path, *args: str, env: dict[str, str] | None = None, ready_timeout: float = 60
) -> Iterator[Server]:
    server = start_serve(data_dir, *args, env=env)
    try:
        wait_ready(server, ready_timeout)
        yield server
    finally:
        stop(server.process)
