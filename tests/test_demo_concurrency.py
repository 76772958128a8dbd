"""Four clients upload the same picture at the same moment, again and again, and fetch every picture the
demo answers with: each answer and each file arrives whole.

Gradio encodes pictures returned as arrays into ``<cache>/<hash of the bytes>/image.png`` and rewrites that
file in place each time, so identical answers to concurrent clients shared one file that was truncated
and rewritten while others were still downloading it ("Too little data for declared Content-Length").
The demo now returns pictures as fresh files, which Gradio copies into its cache under a temporary name
and never rewrites. Bounded: 4 threads x 5 requests against 127.0.0.1.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest
from demo_server import demo_server
from gradio_client import Client, handle_file
from PIL import Image

CLIENTS, ROUNDS = 4, 5

pytestmark = pytest.mark.slow


def noisy_png(path: Path) -> Path:
    """A 512x384 picture of noise: large PNGs, so a rewrite in place overlaps a download."""
    pixels = np.random.default_rng(7).integers(0, 256, (384, 512, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def test_identical_uploads_from_four_clients_at_once(tmp_path: Path) -> None:
    source = noisy_png(tmp_path / "noise-poster.png")
    failures: list[str] = []
    fetched = [0]
    lock = threading.Lock()
    with demo_server(log_dir=tmp_path, extra_args=("--concurrency", str(CLIENTS))) as server:
        start = threading.Barrier(CLIENTS)

        def client() -> None:
            api = Client(server.url, verbose=False, download_files=False, httpx_kwargs={"timeout": 120})
            with httpx.Client(base_url=server.url, timeout=120, trust_env=False) as http:
                for _ in range(ROUNDS):
                    start.wait(timeout=120)  # every client sends the same upload at the same moment
                    try:
                        gallery, composite, status, _ = api.predict(handle_file(str(source)), api_name="/open")
                        assert "Opened noise-poster.png" in status, status
                        for item in [composite, *(entry["image"] for entry in gallery)]:
                            body = http.get(item["url"]).content
                            Image.open(io.BytesIO(body)).load()  # a truncated PNG fails here
                            with lock:
                                fetched[0] += 1
                    except Exception as err:  # collected: each failure is reported below
                        with lock:
                            failures.append(f"{type(err).__name__}: {str(err)[:200]}")

        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
        log = server.log()
    assert not failures, failures[:5]
    assert fetched[0] == CLIENTS * ROUNDS * 2  # the composite and the one layer of each answer
    assert "Content-Length" not in log, log[-2000:]
