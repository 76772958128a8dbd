"""Decomposition latency and peak memory at several input sizes, and the cold CLI time.

    python benchmarks/bench_decompose.py --model layerdiff-tiny --sizes 256 1024 4096 --layers 4 --repeats 5

Each size runs in its own subprocess so that its peak resident memory (ru_maxrss) is its own.
Latency is the median of ``--repeats`` calls after the model is loaded (one warm-up call first); the
previous result is released before each call, so the peak memory is that of one decomposition (the
input, the model and one result), not of two results held at once. For diffusion models the median
time of the model alone (sampling to latents, ``output_type="latent"``) is reported beside it, so the
rest is the full-resolution painting (:func:`layerdiff.recompose.upsample_layers`).
The cold time runs ``layerdiff decompose`` as a new process (imports, model load, PSD + PNG writing
included), ``--cold-repeats`` times; the median is reported.
The load average before and after is printed: on a shared machine, multi-threaded torch calls slow
down sharply when other processes hold the cores. The region engine paints at full resolution and reads
text on threads of its own (``LAYERDIFF_THREADS``, default the usable cores up to 4; 1 runs serially).
Prints a markdown table; ``--json`` writes the raw figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from layerdiff.registry import DEFAULT_MODEL


def design(size: int):
    """A deterministic flat design of size x size (gradient, disc, bar, text-like stripes)."""
    import numpy as np

    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    img = np.stack([0.9 - 0.3 * yy, 0.8 - 0.2 * xx, np.full_like(xx, 0.75)], axis=-1)
    img[((yy - 0.4) ** 2 + (xx - 0.45) ** 2) < 0.04] = (0.85, 0.15, 0.1)
    img[(yy > 0.75) & (yy < 0.82) & (xx > 0.1) & (xx < 0.9)] = (0.1, 0.2, 0.7)
    for k in range(6):
        img[(yy > 0.1) & (yy < 0.16) & (xx > 0.1 + 0.12 * k) & (xx < 0.18 + 0.12 * k)] = (0.05, 0.05, 0.05)
    return (img * 255).astype(np.uint8)


def run_one(model: str, size: int, layers: int, repeats: int, threads: int) -> dict:
    import numpy as np

    from layerdiff.loader import load

    img = design(size)
    t0 = time.perf_counter()
    dec = load(model, "decompose")
    torch = sys.modules.get("torch")  # only a model that imported torch pays for it
    if torch is not None:
        torch.set_num_threads(threads)
    if hasattr(dec, "set_progress_bar_config"):
        dec.set_progress_bar_config(disable=True)
    load_s = time.perf_counter() - t0
    out = dec.decompose(img, num_layers=layers)  # warm-up
    times = []
    for _ in range(repeats):
        out = None  # release the previous result: measure one decomposition's memory
        t = time.perf_counter()
        out = dec.decompose(img, num_layers=layers)
        times.append(time.perf_counter() - t)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    model_times = []
    if callable(dec) and hasattr(dec, "denoise"):  # a diffusion pipeline: time the model alone
        for _ in range(repeats):
            t = time.perf_counter()
            dec(img, num_layers=layers, output_type="latent", generator=torch.Generator().manual_seed(0))
            model_times.append(time.perf_counter() - t)
    comp = (np.clip(out.composite()[..., :3], 0, 1) * 255).round().astype(np.int16)
    return {"model": model, "size": size, "layers": len(out), "load_s": load_s,
            "median_s": statistics.median(times), "min_s": min(times), "times_s": times,
            "model_median_s": statistics.median(model_times) if model_times else None,
            "max_err_255": int(np.abs(comp - img.astype(np.int16)).max()), "peak_rss_mb": peak_mb}


def cold_cli(model: str, size: int, layers: int) -> float:
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "design.png"
        Image.fromarray(design(size)).save(src)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "layerdiff", "decompose", str(src), "--model", model,
                        "--layers", str(layers), "-o", str(Path(tmp) / "out")], check=True,
                       capture_output=True)
        return time.perf_counter() - t


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 4096])
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2, help="torch threads (diffusion models); the region "
                   "engine's painting threads follow LAYERDIFF_THREADS")
    p.add_argument("--cold-size", type=int, default=1024, help="0 skips the cold CLI run")
    p.add_argument("--cold-repeats", type=int, default=3)
    p.add_argument("--json", default=None)
    p.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)  # child mode
    args = p.parse_args(argv)
    if args.one is not None:
        print(json.dumps(run_one(args.model, args.one, args.layers, args.repeats, args.threads)))
        return 0
    load_before = _load()
    rows = []
    for size in args.sizes:
        cmd = [sys.executable, __file__, "--model", args.model, "--layers", str(args.layers),
               "--repeats", str(args.repeats), "--threads", str(args.threads), "--one", str(size)]
        res = subprocess.run(cmd, check=True, capture_output=True, text=True)
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
    colds = [cold_cli(args.model, args.cold_size, args.layers) for _ in range(args.cold_repeats)] \
        if args.cold_size else []
    from layerdiff.parallel import worker_count

    machine = (f"{platform.machine()}, {args.threads} torch threads, {worker_count()} painting threads "
               f"(LAYERDIFF_THREADS), {platform.python_version()}")
    print(f"Decomposition, model {args.model}, {args.layers} layers, {machine}; "
          f"load average before {load_before}, after {_load()}\n")
    print("| input | layers out | median s (warm) | model s | peak RSS MB | composite max err (/255) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        model_s = f"{r['model_median_s']:.2f}" if r["model_median_s"] is not None else "-"
        print(f"| {r['size']}x{r['size']} | {r['layers']} | {r['median_s']:.2f} | {model_s} | "
              f"{r['peak_rss_mb']:.0f} | {r['max_err_255']} |")
    if colds:
        each = ", ".join(f"{c:.2f}" for c in colds)
        print(f"\nCold `layerdiff decompose` at {args.cold_size}x{args.cold_size}: "
              f"median {statistics.median(colds):.2f} s of {len(colds)} ({each})")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "cold_s": colds, "machine": machine,
                                               "load_before": load_before}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
