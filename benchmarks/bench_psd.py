"""Real PSD files: score decomposers on the psd-tools corpus, both count modes (issue 28, item 1).

    python benchmarks/bench_psd.py -o runs/eval-psd                      # ../shared/data/psd-corpus
    python benchmarks/bench_psd.py --list                                # the scored files' two halves
    python benchmarks/bench_psd.py --split validation -o runs/psd-val    # tune on this half only
    python benchmarks/bench_psd.py --split test -o runs/psd-test         # report this half only
    python benchmarks/bench_psd.py tests/data/psd -o runs/eval-psd-subset --num-layers gt

The ground truth of each file is its visible layers as ``layerdiff eval`` reads them
(:func:`layerdiff.eval.harness.folder_samples`); files with fewer than two non-empty layers are run but
not scored. Scores as in ``layerdiff eval DATA --num-layers MODE`` for each mode, computed sample by
sample (every mode of one file before the next file) into ``OUT/<mode>/`` (``results.csv``,
``summary.md``, ``summary.json``, rewritten after each file; ``--resume`` skips the files already
scored). ``OUT/run.json`` records the data folder, the models, the git commit and the split.

Halves: the files the metric scores (at least two layers with a pixel of alpha >= 1/255; reading every
file to find them takes a minute or two) are cut by :func:`halves`, a permutation drawn with ``--seed``
(2818, as ``bench_flags.py``) of their sorted names: ``validation`` (tune on it) and ``test`` (report
only). ``--split`` runs one half (and prints both); ``--split-from`` takes the halves from the
``run.json`` of an earlier ``--split`` or ``--list`` run instead of reading every file again.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_emoji import git_commit, score_modes  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO.parent / "shared" / "data" / "psd-corpus"
HALVES = ("validation", "test")


def halves(names: Sequence[str], seed: int = 2818) -> dict[str, list[str]]:
    """The sorted ``names`` cut by a permutation drawn with ``seed``: the first half (rounded up) is
    validation, the rest test; each half sorted. The input's order does not matter."""
    ordered = sorted(set(names))
    order = [ordered[int(k)] for k in np.random.default_rng(seed).permutation(len(ordered))]
    cut = (len(order) + 1) // 2
    return {"validation": sorted(order[:cut]), "test": sorted(order[cut:])}


def scored_names(samples: Sequence[Any], log: Callable[[str], None] | None = None) -> list[str]:
    """The names of the ``samples`` (:class:`layerdiff.eval.harness.EvalSample`) whose ground truth the
    LayerD metric scores: at least two visible layers with an alpha of 1/255 or more somewhere (the
    metric's count on the 8-bit grid). A file that cannot be read is not scored (its rows are errors)."""
    from layerdiff.errors import LayerdiffError

    keep = []
    for sample in samples:
        try:
            stack = sample.load().to_numpy(include_hidden=False)  # (L, H, W, 4)
        except (LayerdiffError, OSError, ValueError) as err:
            if log:
                log(f"{sample.name}: unreadable, not scored ({err})")
            continue
        if sum(1 for layer in stack if (np.round(layer[..., 3] * 255.0) >= 1).any()) >= 2:
            keep.append(sample.name)
    return keep


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="?", default=str(DEFAULT_CORPUS),
                    help="folder of layered files (default: ../shared/data/psd-corpus next to the checkout)")
    ap.add_argument("-o", "--output", help="output folder (OUT/<mode>/)")
    ap.add_argument("--models", default="layerdiff-tiny,cluster-matting,single-layer",
                    help="comma-separated model names (see `layerdiff models`)")
    ap.add_argument("--num-layers", nargs="+", choices=("auto", "gt"), default=["auto", "gt"],
                    help="count modes to run: auto (each model chooses) and/or gt (the true count)")
    ap.add_argument("--split", choices=HALVES,
                    help="score one half of the scored files (tune on validation, report test); "
                         "default: every file")
    ap.add_argument("--seed", type=int, default=2818, help="seed of the permutation that cuts the halves")
    ap.add_argument("--split-from", metavar="RUN_JSON",
                    help="take the halves from the run.json of an earlier --split or --list run")
    ap.add_argument("--list", action="store_true", help="print both halves of the scored files, then stop")
    ap.add_argument("--limit", type=int, help="the first N files only")
    ap.add_argument("--resume", action="store_true", help="keep the scores already in OUT and score the rest")
    ap.add_argument("--quiet", action="store_true", help="print only the summary tables")
    args = ap.parse_args(argv)
    if not (args.output or args.list):
        ap.error("give -o OUT to score, or --list")
    if (args.limit or 1) < 1:
        ap.error("--limit must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from layerdiff.eval.harness import folder_samples, markdown_table

    data = Path(args.data)
    if not data.is_dir():
        print(f"bench_psd: data folder not found: {data} (the PSD corpus lives in ../shared/data/psd-corpus "
              "next to the checkout; give its folder as DATA)", file=sys.stderr)
        return 2
    try:
        samples = folder_samples(data)
    except ValueError as err:
        print(f"bench_psd: {err}", file=sys.stderr)
        return 2
    log = None if args.quiet else (lambda msg: print(msg, flush=True))
    record: dict[str, Any] = {"commit": git_commit(), "data": str(data)}
    if args.split or args.list:
        if args.split_from:
            try:
                cut = json.loads(Path(args.split_from).read_text())["halves"]
                cut = {half: list(cut[half]) for half in HALVES}
            except (OSError, ValueError, KeyError, TypeError) as err:
                print(f"bench_psd: {args.split_from}: no halves to read ({type(err).__name__}: {err})",
                      file=sys.stderr)
                return 2
        else:
            cut = halves(scored_names(samples, log), args.seed)
        record.update(seed=args.seed, halves=cut)
        for half in HALVES:
            if not args.quiet or args.list:
                print(f"{half} ({len(cut[half])}): {' '.join(cut[half])}", flush=True)
        if args.list:
            if args.output:
                Path(args.output).mkdir(parents=True, exist_ok=True)
                (Path(args.output) / "run.json").write_text(json.dumps(record, indent=1) + "\n")
            return 0
        chosen = set(cut[args.split])
        missing = sorted(chosen - {s.name for s in samples})
        if missing:
            print(f"bench_psd: {data}: the {args.split} half names files not there ({', '.join(missing[:5])})",
                  file=sys.stderr)
            return 2
        samples = [s for s in samples if s.name in chosen]
        record["split"] = args.split
    if args.limit:
        samples = samples[:args.limit]
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    record.update(files=len(samples), models=models, modes=args.num_layers)
    (out / "run.json").write_text(json.dumps(record, indent=1) + "\n")
    summaries = score_modes(samples, models, out, args.num_layers, resume=args.resume, log=log)
    which = f", {args.split} half" if args.split else ""
    for mode, summary in summaries.items():
        print(f"\n## {data.name}{which}, {len(samples)} files, count {mode} (commit {record['commit']})\n")
        print(markdown_table(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
