"""The Ray backend of ``layerdiff batch`` gives the same outputs and manifest as the local backend.

Ray runs in a subprocess (the CLI, as a user would run it) on a private local instance with 2 CPUs
and node IP 127.0.0.1. Ray 2.60's gRPC servers bind every interface whatever the node IP, so where
the host allows it (``unshare -n``, or ``unshare -rn`` without root) the subprocess runs in its own
network namespace whose only interface is loopback: nothing can listen beyond it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import PSD_FILES
from PIL import Image

from layerdiff.batch import ASSET_JSON, MANIFEST_NAME, latest_records, read_manifest, run_batch

REPO = Path(__file__).resolve().parents[1]
_COMPARED = ("status", "sha256", "bytes", "output", "reason", "layers", "psnr", "max_error", "model")


def _loopback_only_prefix() -> list[str]:
    """A command prefix that runs its command in a network namespace with only loopback, if allowed here."""
    if not shutil.which("unshare"):
        return []
    for flags in (["-n"], ["-rn"]):
        probe = subprocess.run(["unshare", *flags, "sh", "-c", "ip link set lo up 2>/dev/null || true"],
                               capture_output=True)
        if probe.returncode == 0:
            return ["unshare", *flags, "sh", "-c", 'ip link set lo up 2>/dev/null || true; exec "$@"', "sh"]
    return []


def _make_assets(root: Path) -> None:
    rng = np.random.default_rng(0)
    for i, size in enumerate([(20, 14), (33, 17), (16, 16)]):
        (root / f"dir{i % 2}").mkdir(parents=True, exist_ok=True)
        rgba = (rng.random((size[1], size[0], 4)) * 255).astype(np.uint8)  # (H, W, 4)
        Image.fromarray(rgba, "RGBA").save(root / f"dir{i % 2}" / f"img{i}.png")
    shutil.copy(PSD_FILES / "2layers.psd", root / "2layers.psd")
    (root / "bad.webp").write_bytes(b"RIFF\x10\x00\x00\x00WEBPVP8 broken")


def _outputs(out: Path) -> dict[str, object]:
    """Every output file's bytes (asset.json without its timings), keyed by relative path."""
    files: dict[str, object] = {}
    for path in sorted(out.rglob("*")):
        if not path.is_file() or path.name in (MANIFEST_NAME, ".layerdiff-batch.lock"):
            continue
        rel = path.relative_to(out).as_posix()
        if path.name == ASSET_JSON:
            info = json.loads(path.read_text())
            info.pop("timings")
            files[rel] = info
        else:
            files[rel] = path.read_bytes()
    return files


@pytest.mark.slow
def test_ray_backend_matches_local_backend(tmp_path: Path) -> None:
    src = tmp_path / "in"
    _make_assets(src)
    local = run_batch(src, tmp_path / "local", model="single-layer", workers=0, progress=False)
    assert local.counts == {"done": 4, "failed": 1, "skipped": 0}

    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", PYTHONPATH=os.pathsep.join(
        [str(REPO), os.environ.get("PYTHONPATH", "")]))
    prefix = _loopback_only_prefix()
    cmd = [sys.executable, "-m", "layerdiff", "batch", str(src), "-o", str(tmp_path / "ray"), "--model",
           "single-layer", "--backend", "ray", "--workers", "2", "-q"]
    proc = subprocess.run(prefix + cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180)
    print(f"ray run ({'loopback-only namespace' if prefix else 'host network'}): {proc.stdout.strip()}")
    assert proc.returncode == 1, proc.stderr[-3000:]  # 1: the broken file failed, as in the local run
    assert "4 done, 1 failed, 0 skipped" in proc.stdout

    def comparable(out: Path) -> dict[str, dict[str, object]]:
        latest = latest_records(read_manifest(out / MANIFEST_NAME))
        return {path: {k: r.get(k) for k in _COMPARED} for path, r in latest.items()}

    assert comparable(tmp_path / "ray") == comparable(tmp_path / "local")
    assert _outputs(tmp_path / "ray") == _outputs(tmp_path / "local")
