"""Batch throughput: assets per minute with 1 and 2 workers, local processes and Ray actors.

    python benchmarks/bench_batch.py                       # first 60 psd-corpus files, single-layer
    python benchmarks/bench_batch.py --limit 0 --model cluster-matting --workers 1 2 4 --json out.json
    unshare -n sh -c 'ip link set lo up; python benchmarks/bench_batch.py'   # Ray confined to loopback

Each configuration runs the whole batch (``layerdiff.batch.run_batch``) into a fresh output folder;
the wall time includes starting the workers and loading the model in each, as a user would see it.
One private Ray instance (node IP 127.0.0.1) serves every Ray configuration, so Ray's own start-up
(reported separately) is not charged to the first one. Scaling efficiency of N workers is
``rate(N) / (N * rate(1))`` for the same backend. Prints a markdown table; ``--json`` writes the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "psd-corpus"


def subset(data: Path, limit: int, into: Path) -> Path:
    """Symlink the first ``limit`` inputs (0 = all) of ``data`` into ``into`` and return it."""
    from layerdiff.batch import find_inputs

    inputs = find_inputs(data)
    if limit:
        inputs = inputs[:limit]
    for path in inputs:
        link = into / path.relative_to(data)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(path.resolve())
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="asset folder (default: psd-corpus)")
    parser.add_argument("--limit", type=int, default=60, help="first N inputs in sorted order (0 = all)")
    parser.add_argument("--model", default="single-layer", help="decomposer (default: %(default)s)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts (default: 1 2)")
    parser.add_argument("--backends", nargs="+", default=["local", "ray"], choices=["local", "ray"])
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per asset (default: 120)")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw figures here")
    args = parser.parse_args()

    from layerdiff.batch import run_batch

    rows, ray_start = [], None
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        data = subset(args.data, args.limit, Path(tmp) / "in")
        for backend in args.backends:
            if backend == "ray":
                from layerdiff.batch.ray_backend import init_ray

                t0 = time.perf_counter()
                init_ray(None, max(args.workers))
                ray_start = time.perf_counter() - t0
            for workers in args.workers:
                out = Path(tmp) / f"out-{backend}-{workers}"
                summary = run_batch(data, out, model=args.model, workers=workers, backend=backend,
                                    timeout=args.timeout, progress=False)
                rows.append({"backend": backend, "workers": workers, "assets": len(summary.records),
                             **summary.counts, "seconds": round(summary.seconds, 2),
                             "assets_per_minute": round(summary.assets_per_minute(), 1)})
                print(f"{backend} x{workers}: {summary.counts} in {summary.seconds:.1f} s", flush=True)
                shutil.rmtree(out, ignore_errors=True)
        if "ray" in args.backends:
            import ray

            ray.shutdown()
    base = {r["backend"]: r["assets_per_minute"] for r in rows if r["workers"] == min(args.workers)}
    for r in rows:
        ref = base.get(r["backend"]) or 0.0
        scale = r["workers"] / min(args.workers)
        r["efficiency"] = round(r["assets_per_minute"] / (scale * ref), 3) if ref else None

    count = rows[0]["assets"] if rows else 0
    print(f"\nBatch throughput, model {args.model}, {count} assets from {args.data.name}"
          f" ({platform.processor() or platform.machine()}, {os.cpu_count()} CPUs)")
    if ray_start is not None:
        print(f"Ray start-up (not counted below): {ray_start:.1f} s")
    print("\n| backend | workers | done | failed | wall s | assets/min | scaling efficiency |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        eff = "-" if r["efficiency"] is None else f"{100 * r['efficiency']:.0f} %"
        print(f"| {r['backend']} | {r['workers']} | {r['done']} | {r['failed']} | {r['seconds']:.1f} | "
              f"{r['assets_per_minute']:.1f} | {eff} |")
    if args.json:
        args.json.write_text(json.dumps({"model": args.model, "data": str(args.data), "limit": args.limit,
                                         "ray_startup_seconds": ray_start, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
