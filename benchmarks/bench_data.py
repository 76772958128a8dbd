"""Synthetic data throughput on one core: samples per second at 128 and 256 px.

Usage: python benchmarks/bench_data.py [--sizes 128 256] [--n 200] [--json out.json]

For each size: ``cold`` is the first ``n`` samples of a fresh process-wide stream (emoji renders
and fonts not cached yet), ``warm`` the next ``n`` (caches filled as in a long training run), and
``dataset`` the rate of :class:`SyntheticLayerDataset` items (sample + tensor packing). Rates
are given per wall-clock second and per CPU second of this process (the single-core rate when
other processes share the machine).
Training is data-bound below ~50 samples/s at 128 px with one loader worker.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from layerdiff.data.datasets import SyntheticLayerDataset  # noqa: E402
from layerdiff.data.synthetic import SyntheticDesigns  # noqa: E402


def rate(fn, n: int) -> tuple[float, float]:
    """(samples per wall second, samples per CPU second of this process)."""
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - t0), n / (time.process_time() - c0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--n", type=int, default=200, help="samples per measurement")
    parser.add_argument("--max-layers", type=int, default=6)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    results = []
    for size in args.sizes:
        gen = SyntheticDesigns(seed=123, size=size, max_layers=args.max_layers)
        cold = rate(lambda i, g=gen: g.sample(i), args.n)
        warm = rate(lambda i, g=gen: g.sample(args.n + i), args.n)
        ds = SyntheticLayerDataset(seed=123, size=size, max_layers=args.max_layers)
        packed = rate(lambda i, d=ds: d[i], args.n)
        row = {"size": size, "n": args.n}
        for name, (wall, cpu) in (("cold", cold), ("warm", warm), ("dataset", packed)):
            row[f"{name}_per_wall_s"] = round(wall, 1)
            row[f"{name}_per_cpu_s"] = round(cpu, 1)
        results.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
