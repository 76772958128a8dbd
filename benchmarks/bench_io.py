"""Writing layered files: layerdiff's PSD writer against psd-tools writing the same layers directly, the
writers against the decomposition they follow, and the whole ``layerdiff decompose`` run's peak memory.

    python benchmarks/bench_io.py --size 4096 --layers 4 --repeats 3

1. A deterministic flat design of ``--size`` pixels is decomposed in this process into ``--layers``
   layers with ``--model`` (region path); the decomposition time is the median of ``--repeats``.
2. The result is written as PSD, PNG folder and ORA together, as the CLI writes it
   (:func:`layerdiff.io.save_set`), ``--repeats`` times: median seconds, and the ratio to decomposing.
3. PSD alone, alternating: layerdiff's :func:`~layerdiff.io.psd.write_psd` and psd-tools' own API on
   the same 8-bit layers (``PSDImage.new``, ``create_pixel_layer`` per layer, ``save``, which
   composites the merged preview itself); the ratio is taken pair by pair and its median reported.
4. ``layerdiff decompose IMAGE --layers N --formats psd,png,ora`` as a new process, ``--cli-repeats``
   times: wall seconds and the child's peak resident memory (``ru_maxrss``).

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


def design(size: int):
    """A deterministic flat design of size x size: gradient background, disc, bar, blocks, a ring."""
    import numpy as np

    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    img = np.stack([0.9 - 0.3 * yy, 0.8 - 0.2 * xx, np.full_like(xx, 0.75)], axis=-1)  # (S, S, 3)
    img[((yy - 0.4) ** 2 + (xx - 0.45) ** 2) < 0.04] = (0.85, 0.15, 0.1)
    img[(yy > 0.75) & (yy < 0.82) & (xx > 0.1) & (xx < 0.9)] = (0.1, 0.2, 0.7)
    for k in range(6):
        img[(yy > 0.1) & (yy < 0.16) & (xx > 0.1 + 0.12 * k) & (xx < 0.18 + 0.12 * k)] = (0.05, 0.05, 0.05)
    ring = (yy - 0.6) ** 2 + (xx - 0.78) ** 2
    img[(ring < 0.012) & (ring > 0.006)] = (0.95, 0.8, 0.1)
    return (img * 255).astype(np.uint8)


def write_psd_tools(image, path: Path) -> None:
    """The same layers written with psd-tools' document API alone (it renders the merged preview)."""
    from PIL import Image
    from psd_tools import PSDImage
    from psd_tools.constants import Compression

    from layerdiff.layered import from_float

    psd = PSDImage.new("RGBA", image.size, color=0, depth=8, compression=Compression.RLE)
    psd.background_color = None
    for layer in image.layers:
        psd.create_pixel_layer(Image.fromarray(from_float(layer.pixels, 8), "RGBA"), name=layer.name,
                               left=layer.offset[0], top=layer.offset[1], opacity=int(round(layer.opacity * 255)))
    psd.save(path)


def in_process(args: argparse.Namespace, image_path: Path, work: Path) -> dict:
    from layerdiff.io import load_composite, save_set
    from layerdiff.io.psd import write_psd
    from layerdiff.regions.decomposer import RegionLayerDecomposer

    rgba, _ = load_composite(image_path)
    decomposer = RegionLayerDecomposer.from_pretrained(args.model)
    decompose_s, result = [], None
    for _ in range(args.repeats):
        result = None
        t0 = time.perf_counter()
        result = decomposer.decompose(rgba, num_layers=args.layers)
        decompose_s.append(time.perf_counter() - t0)
    write_s = []
    for i in range(args.repeats):
        out = work / f"set{i}"
        out.mkdir()
        t0 = time.perf_counter()
        save_set(result, [(out / "x.psd", None), (out / "png", "png-dir"), (out / "x.ora", None)])
        write_s.append(time.perf_counter() - t0)
    ours, theirs, ratios = [], [], []
    for i in range(args.repeats):
        t0 = time.perf_counter()
        write_psd(result, work / f"ours{i}.psd")
        t1 = time.perf_counter()
        write_psd_tools(result, work / f"theirs{i}.psd")
        t2 = time.perf_counter()
        ours.append(t1 - t0)
        theirs.append(t2 - t1)
        ratios.append((t1 - t0) / (t2 - t1))
    return {"layers": len(result), "layer_sizes": [list(layer.pixels.shape[:2]) for layer in result.layers],
            "decompose_s": statistics.median(decompose_s), "write_set_s": statistics.median(write_s),
            "write_over_decompose": statistics.median(write_s) / statistics.median(decompose_s),
            "psd_layerdiff_s": statistics.median(ours), "psd_psd_tools_s": statistics.median(theirs),
            "psd_ratio_layerdiff_over_psd_tools": statistics.median(ratios),
            "psd_bytes_layerdiff": (work / "ours0.psd").stat().st_size,
            "psd_bytes_psd_tools": (work / "theirs0.psd").stat().st_size}


def cli_runs(args: argparse.Namespace, image_path: Path, work: Path) -> dict:
    walls, peaks = [], []
    for i in range(args.cli_repeats):
        out = work / f"cli{i}"
        cmd = [sys.executable, "-m", "layerdiff", "decompose", str(image_path), "--layers", str(args.layers),
               "--model", args.model, "--formats", "psd,png,ora", "-o", str(out)]
        t0 = time.perf_counter()
        log = work / f"cli{i}.log"
        with open(log, "wb") as fh:
            proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(proc.pid, 0)
        walls.append(time.perf_counter() - t0)
        peaks.append(usage.ru_maxrss / 1024)  # KiB -> MiB (Linux)
        if status != 0 or not (out / "design.psd").exists():
            raise SystemExit(f"the CLI run failed: {log.read_text()[-2000:]}")
    return {"cli_wall_s": statistics.median(walls), "cli_peak_mib": statistics.median(peaks),
            "cli_peak_mib_max": max(peaks)}


def main() -> None:
    from layerdiff.registry import DEFAULT_MODEL

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cli-repeats", type=int, default=1)
    parser.add_argument("--skip-cli", action="store_true", help="only the in-process figures")
    parser.add_argument("--json", default=None, help="write the figures here")
    args = parser.parse_args()

    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        image_path = work / "design.png"
        Image.fromarray(design(args.size)).save(image_path)
        figures = {"size": args.size, "requested_layers": args.layers, "model": args.model,
                   "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "python": platform.python_version()}
        figures.update(in_process(args, image_path, work))
        if not args.skip_cli:
            figures.update(cli_runs(args, image_path, work))
    figures["bench_peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = [("decompose (in process, median)", f"{figures['decompose_s']:.2f} s"),
            ("write PSD + PNG folder + ORA (median)", f"{figures['write_set_s']:.2f} s"),
            ("write / decompose", f"{figures['write_over_decompose']:.2f}"),
            ("PSD: layerdiff write_psd (median)", f"{figures['psd_layerdiff_s']:.2f} s"),
            ("PSD: psd-tools directly (median)", f"{figures['psd_psd_tools_s']:.2f} s"),
            ("PSD ratio layerdiff / psd-tools (paired median)", f"{figures['psd_ratio_layerdiff_over_psd_tools']:.2f}")]
    if "cli_wall_s" in figures:
        rows += [("CLI decompose --formats psd,png,ora: wall", f"{figures['cli_wall_s']:.2f} s"),
                 ("CLI peak resident memory", f"{figures['cli_peak_mib']:.0f} MiB")]
    print(f"{args.size}x{args.size}, {figures['layers']} layers, {figures['machine']}")
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
