"""Peak resident memory of ``layerdiff info``, ``convert`` and ``decompose`` on large flat images.

    python benchmarks/bench_memory.py --size 8192 --decompose-sizes 4096,8192

Each command runs as a new process (``python -m layerdiff ...``); its wall seconds and peak resident
memory (``ru_maxrss`` from ``os.wait4``, the figure ``/usr/bin/time -v`` prints as "Maximum resident
set size") are reported. A child's ``ru_maxrss`` starts from what its parent held when it forked, so
the inputs are made by another process and this one stays small. The inputs, made deterministically:

- ``bw``: a 1-bit PNG of ``--size`` squared pixels (64 px checkerboard; a few KB on disk);
- ``rgb``: an 8-bit RGB PNG of ``--size`` squared pixels (smooth gradients);
- ``design``: the flat design of ``bench_io.py`` at each of ``--decompose-sizes``.

``info`` and ``convert`` (to ``--convert-to``, default PSD and ORA) run on ``bw`` and ``rgb``;
``decompose --layers --formats psd,png`` on each design. Prints a markdown table; ``--json`` writes
the raw figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_io import design


def make_inputs(size: int, work: Path) -> dict[str, Path]:
    """The 1-bit and the RGB test PNGs of ``size`` x ``size``."""
    import numpy as np
    from PIL import Image

    yy, xx = np.mgrid[0:size, 0:size]  # (S, S) each
    checker = (xx // 64 + yy // 64) % 2 == 0  # (S, S) bool
    paths = {"bw": work / f"bw{size}.png", "rgb": work / f"rgb{size}.png"}
    Image.fromarray(checker).convert("1").save(paths["bw"])
    rgb = np.stack([(xx * 255 // size).astype(np.uint8), (yy * 255 // size).astype(np.uint8),
                    ((xx + yy) % 256).astype(np.uint8)], axis=-1)  # (S, S, 3)
    Image.fromarray(rgb).save(paths["rgb"])
    return paths


def measure(args: list[str], work: Path, label: str) -> dict:
    """Run ``python -m layerdiff ARGS`` once: wall seconds and peak resident MiB (fails loudly)."""
    cmd = [sys.executable, "-m", "layerdiff", *args]
    log = work / f"{label.replace(' ', '_').replace('/', '_')}.log"
    t0 = time.perf_counter()
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"{label} failed: {' '.join(cmd)}\n{log.read_text()[-2000:]}")
    return {"command": label, "wall_s": round(wall, 2), "peak_mib": round(usage.ru_maxrss / 1024, 1)}


def make_designs(sizes: list[int], work: Path) -> None:
    """``design<size>.png`` for each size (the flat design of ``bench_io.py``)."""
    from PIL import Image

    for size in sizes:
        Image.fromarray(design(size)).save(work / f"design{size}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=8192, help="side of the info/convert inputs")
    parser.add_argument("--convert-to", default="psd,ora", help="comma-separated convert targets")
    parser.add_argument("--decompose-sizes", default="4096", help="comma-separated design sides; '' for none")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--model", default="layerdiff-tiny")
    parser.add_argument("--json", default=None, help="write the figures here")
    parser.add_argument("--make-inputs-in", default=None, help=argparse.SUPPRESS)  # the child that makes them
    args = parser.parse_args()
    sizes = [int(s) for s in args.decompose_sizes.split(",") if s.strip()]
    if args.make_inputs_in:
        make_inputs(args.size, Path(args.make_inputs_in))
        make_designs(sizes, Path(args.make_inputs_in))
        return

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        subprocess.run([sys.executable, __file__, "--size", str(args.size), "--decompose-sizes",
                        args.decompose_sizes, "--make-inputs-in", str(work)], check=True)
        inputs = {"bw": work / f"bw{args.size}.png", "rgb": work / f"rgb{args.size}.png"}
        for kind, path in inputs.items():
            rows.append(measure(["info", str(path)], work, f"info {kind} {args.size}"))
            for ext in [e.strip() for e in args.convert_to.split(",") if e.strip()]:
                out = work / f"{kind}.{ext}"
                rows.append(measure(["convert", str(path), str(out)], work, f"convert {kind} {args.size} -> {ext}"))
                out.unlink()
        for size in sizes:
            path = work / f"design{size}.png"
            rows.append(measure(["decompose", str(path), "--layers", str(args.layers), "--model", args.model,
                                 "--formats", "psd,png", "-o", str(work / f"out{size}")], work,
                                f"decompose design {size}"))
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs"
    print(f"{machine}, Python {platform.python_version()}")
    print("| command | wall | peak resident memory |\n|---|---|---|")
    for row in rows:
        print(f"| {row['command']} | {row['wall_s']:.1f} s | {row['peak_mib']:,.0f} MiB |")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine, "python": platform.python_version(),
                                               "model": args.model, "runs": rows}, indent=2))


if __name__ == "__main__":
    main()
