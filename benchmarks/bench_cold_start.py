"""Cold start of the command line: ``layerdiff extract`` against ``layerdiff decompose`` of the same image.

    python benchmarks/bench_cold_start.py                       # the bundled poster, 5 pairs
    python benchmarks/bench_cold_start.py --image my.png --runs 9 --model layerdiff-tiny --json out.json

Each run is a fresh Python process (``python -m layerdiff ...``), timed from outside, its start-up and
imports included: what a user waits for. The two commands run in turn (decompose, extract, decompose,
...) and the ratio extract / decompose is taken pair by pair, so that a change of the machine's load
hits both; the median of each is printed. A last pair of runs reports which heavy modules (torch,
diffusers, transformers) each command imported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from layerdiff.registry import DEFAULT_MODEL

HEAVY = ("torch", "diffusers", "transformers")
_PROBE = ("import sys; from layerdiff.cli import main; rc = main(sys.argv[1:]); "
          "print('HEAVY', ','.join(m for m in {heavy!r} if m in sys.modules) or '-'); sys.exit(rc)")


def commands(image: Path, model: str, out: Path) -> dict[str, list[str]]:
    """The two command lines (arguments after ``layerdiff``): same image, model and output formats."""
    common = ["--model", model, "--formats", "png"]
    return {
        "decompose": ["decompose", str(image), *common, "-o", str(out / "decompose")],
        "extract": ["extract", str(image), "--point", "0.5,0.5", "--normalized", *common, "-o", str(out / "extract")],
    }


def cold_run(args: list[str]) -> float:
    """Seconds of one ``python -m layerdiff ARGS`` in a fresh process; a failing command stops the benchmark."""
    t = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "layerdiff", *args], capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if run.returncode != 0:
        raise SystemExit(f"layerdiff {' '.join(args)} failed ({run.returncode}): {run.stderr.strip()}")
    return seconds


def heavy_imports(args: list[str]) -> str:
    """Which of :data:`HEAVY` the command imported ("-" for none)."""
    code = _PROBE.format(heavy=HEAVY)
    run = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    line = [s for s in run.stdout.splitlines() if s.startswith("HEAVY ")]
    return line[-1].split(" ", 1)[1] if line else f"(failed: {run.stderr.strip()[-200:]})"


def bench(image: Path, model: str, runs: int) -> dict:
    times: dict[str, list[float]] = {"decompose": [], "extract": []}
    with tempfile.TemporaryDirectory() as tmp:
        cmds = commands(image, model, Path(tmp))
        for name in cmds:  # warm the file-system cache, not counted
            cold_run(cmds[name])
        for _ in range(runs):
            for name in ("decompose", "extract"):
                times[name].append(cold_run(cmds[name]))
        imports = {name: heavy_imports(cmd) for name, cmd in cmds.items()}
    ratios = [e / d for e, d in zip(times["extract"], times["decompose"])]
    return {"image": str(image), "model": model, "runs": runs, "times_s": times,
            "median_s": {k: statistics.median(v) for k, v in times.items()},
            "ratio_extract_over_decompose": statistics.median(ratios), "ratios": ratios,
            "heavy_imports": imports}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image", type=Path, default=Path(__file__).resolve().parents[1] / "layerdiff" / "samples"
                   / "poster.png", help="input image (default: the bundled poster)")
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--runs", type=int, default=5, help="timed pairs (after one untimed pair)")
    p.add_argument("--json", default=None, help="also write the raw numbers here")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be >= 1")
    result = bench(args.image, args.model, args.runs)
    print(f"| command | median s (of {args.runs}) | min s | max s | heavy modules imported |")
    print("|---|---:|---:|---:|---|")
    for name, values in result["times_s"].items():
        print(f"| {name} | {statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f} | "
              f"{result['heavy_imports'][name]} |")
    print(f"\nextract / decompose (median of per-pair ratios): {result['ratio_extract_over_decompose']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
