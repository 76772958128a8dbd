"""Start the web demo (``python -m layerdiff demo``) in a subprocess on a free loopback port for tests.

``with demo_server() as server:`` waits until the server answers HTTP, yields a :class:`DemoServer`
(``url``, ``log_path``, ``work_dir``) and stops the server (SIGTERM, then SIGKILL) on exit. A server
that exits or does not answer in time raises ``RuntimeError`` carrying the end of its log.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEST_MODEL = "tiny-random"
_WORK_DIR = re.compile(r"downloads are written to (\S+), removed at exit")


@dataclass
class DemoServer:
    url: str
    log_path: Path
    process: subprocess.Popen

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def work_dir(self) -> Path | None:
        """The app's temporary download folder, as printed at start-up."""
        m = _WORK_DIR.search(self.log())
        return Path(m.group(1)) if m else None


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
    try:
        with opener.open(url + "/config", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def demo_server(model: str = TEST_MODEL, timeout: float = 120.0, log_dir: str | Path | None = None,
                extra_args: tuple[str, ...] = ()) -> Iterator[DemoServer]:
    """Run ``layerdiff demo --model MODEL`` on a free port of 127.0.0.1 until the block ends."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    folder = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="layerdiff-demo-log-"))
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / f"demo-server-{port}.log"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1",
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    cmd = [sys.executable, "-m", "layerdiff", "demo", "--host", "127.0.0.1", "--port", str(port),
           "--model", model, *extra_args]
    with open(log_path, "w") as log:
        process = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = DemoServer(url, log_path, process)
    try:
        deadline = time.monotonic() + timeout
        while not _answers(url):
            if process.poll() is not None:
                tail = server.log()[-3000:]
                raise RuntimeError(f"demo server exited with code {process.returncode}:\n{tail}")
            if time.monotonic() > deadline:
                tail = server.log()[-3000:]
                raise RuntimeError(f"demo server did not answer within {timeout:.0f} s:\n{tail}")
            time.sleep(0.25)
        yield server
    finally:
        stop(process)


def stop(process: subprocess.Popen, grace: float = 30.0) -> int:
    """SIGTERM (the demo then removes its temporary files), SIGKILL after ``grace`` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
