"""Held-out emoji split per element: build the set, score decomposers on it (issue 28, item 1).

    python benchmarks/bench_emoji.py -o runs/eval-emoji                    # 100 emoji, auto and true count
    python benchmarks/bench_emoji.py --list                                # the chosen emoji and their layers
    python benchmarks/bench_emoji.py --write-set runs/emoji-set            # PNG folders for `layerdiff eval`

The set: ``--count`` emoji of ``../shared/data/noto-emoji-svg`` (or ``$LAYERDIFF_EMOJI_DIR``) that the
training data never drew (:func:`layerdiff.data.emoji.never_trained`: zero-width-joiner sequences,
keycaps and tag sequences; training draws single-codepoint emoji only), in the order of a permutation
drawn with ``--seed``. Each is split into ground-truth layers by :func:`layerdiff.data.emoji.element_layers`
(consecutive elements of one paint are one layer; the layer of smallest visible area joins the one drawn
before it while it shows less than ``--min-visible`` of the canvas or there are more than ``--max-layers``
layers), rendered by cairosvg at ``--size`` px on a transparent canvas. Emoji whose layers do not
composite back to the whole render are skipped.

Scoring: :func:`layerdiff.eval.harness.run_eval` (the LayerD metric of ``layerdiff eval``) for each
``--num-layers`` mode, sample by sample (every mode of one emoji before the next emoji), into
``OUT/<mode>/`` (``results.csv``, ``summary.md``, ``summary.json``, rewritten after each sample, so a run
stopped early leaves the scores of a common prefix of the set; ``--resume`` skips the samples already
there). ``OUT/set.json`` records the emoji, their element groups, the options and the git commit.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def git_commit() -> str:
    """The checkout's commit (short hash, ``+dirty`` when tracked files differ), or "unknown"."""
    try:
        head = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%h"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a ``results.csv`` written by the harness, typed as :func:`run_eval` makes them."""
    rows = []
    with open(path, newline="") as fh:
        for raw in csv.DictReader(fh):
            row: dict[str, Any] = {}
            for key, value in raw.items():
                if key in ("model", "sample", "error"):
                    row[key] = value
                elif key in ("skipped", "capped"):
                    row[key] = value == "True"
                else:
                    row[key] = float(value) if value not in ("", "nan") else math.nan
            rows.append(row)
    return rows


def score_modes(samples: Sequence[Any], models: Sequence[str], out: Path, modes: Sequence[str],
                resume: bool = False, log: Callable[[str], None] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Score ``samples`` with ``models`` in every count mode, sample by sample, rewriting
    ``out/<mode>/`` after each; returns the summaries. With ``resume``, samples already in
    ``out/<mode>/results.csv`` for every model are not run again."""
    from layerdiff.eval.harness import EvalReport, EvalSample, run_eval, summarize, write_report
    from layerdiff.loader import load

    decomposers = {name: load(name, "decompose") for name in models}
    rows: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
    for mode in modes:
        old = out / mode / "results.csv"
        if resume and old.is_file():
            rows[mode] = [r for r in read_rows(old) if r["model"] in decomposers]
    summaries: dict[str, list[dict[str, Any]]] = {}
    for sample in samples:
        todo = [m for m in modes if {r["model"] for r in rows[m] if r["sample"] == sample.name} != set(models)]
        if not todo:
            continue
        cache: list[Any] = []

        def once(sample: Any = sample, cache: list[Any] = cache) -> Any:
            if not cache:
                cache.append(sample.load())
            return cache[0]

        for mode in todo:
            rows[mode] = [r for r in rows[mode] if r["sample"] != sample.name]
            report = run_eval([EvalSample(sample.name, once)], decomposers, None, num_layers=mode,
                              log=None if log is None else (lambda msg, mode=mode: log(f"[{mode}] {msg}")))
            rows[mode] += report.rows
            summary = summarize(rows[mode], list(models))
            write_report(EvalReport(rows[mode], summary), out / mode)
    for mode in modes:
        summaries[mode] = summarize(rows[mode], list(models))
    return summaries


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", help="output folder of the scores (OUT/<mode>/)")
    ap.add_argument("--models", default="layerdiff-tiny,cluster-matting,single-layer",
                    help="comma-separated model names (see `layerdiff models`)")
    ap.add_argument("--num-layers", nargs="+", choices=("auto", "gt"), default=["auto", "gt"],
                    help="count modes to run: auto (each model chooses) and/or gt (the true count)")
    ap.add_argument("--count", type=int, default=100, help="number of emoji in the set")
    ap.add_argument("--seed", type=int, default=28, help="seed of the permutation that picks the emoji")
    ap.add_argument("--size", type=int, default=512, help="canvas side in pixels")
    ap.add_argument("--max-layers", type=int, default=6, help="most ground-truth layers per emoji")
    ap.add_argument("--min-visible", type=float, default=0.005,
                    help="smallest visible area of a ground-truth layer, as a share of the canvas")
    ap.add_argument("--emoji-dir", help="folder of Noto emoji SVGs (default: $LAYERDIFF_EMOJI_DIR or "
                    "../shared/data/noto-emoji-svg next to the checkout)")
    ap.add_argument("--list", action="store_true", help="print the chosen emoji and their layer counts, then stop")
    ap.add_argument("--write-set", metavar="DIR",
                    help="also write each ground truth as a PNG layer folder DIR/emoji-<stem> (input of "
                         "`layerdiff eval DIR`)")
    ap.add_argument("--resume", action="store_true", help="keep the scores already in OUT and score the rest")
    ap.add_argument("--set-from", metavar="SET_JSON",
                    help="take the emoji and their groups from a set.json written before instead of choosing them")
    ap.add_argument("--shard", default="0/1", metavar="K/N",
                    help="score only the emoji at positions K, K+N, K+2N ... of the set (run N processes into "
                         "N output folders, then --merge them)")
    ap.add_argument("--merge", nargs="+", metavar="DIR",
                    help="merge the scores of earlier runs' output folders into -o OUT, then stop")
    ap.add_argument("--quiet", action="store_true", help="print only the summary tables")
    args = ap.parse_args(argv)
    if not (args.output or args.list or args.write_set):
        ap.error("give -o OUT to score, --list, or --write-set DIR")
    if args.merge and not args.output:
        ap.error("--merge needs -o OUT")
    try:
        k, n = (int(v) for v in args.shard.split("/"))
    except ValueError:
        ap.error(f"--shard must be K/N, got {args.shard!r}")
    if not 0 <= k < n:
        ap.error(f"--shard K/N needs 0 <= K < N, got {args.shard!r}")
    args.shard = (k, n)
    if args.count < 1 or args.size < 8 or args.max_layers < 2 or not 0.0 <= args.min_visible < 1.0:
        ap.error("need --count >= 1, --size >= 8, --max-layers >= 2 and 0 <= --min-visible < 1")
    return args


def merge(folders: Sequence[Path], out: Path, modes: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """The rows of ``folders/<mode>/results.csv`` (first folder first; a (model, sample) pair once) into
    ``out/<mode>/``; returns the summaries."""
    from layerdiff.eval.harness import EvalReport, summarize, write_report

    summaries = {}
    for mode in modes:
        rows: list[dict[str, Any]] = []
        seen: set[tuple[str, str]] = set()
        for folder in folders:
            path = folder / mode / "results.csv"
            for row in read_rows(path) if path.is_file() else []:
                if (row["model"], row["sample"]) not in seen:
                    seen.add((row["model"], row["sample"]))
                    rows.append(row)
        models = list(dict.fromkeys(r["model"] for r in rows))
        summaries[mode] = summarize(rows, models)
        write_report(EvalReport(rows, summaries[mode]), out / mode)
    return summaries


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from layerdiff.data.emoji import default_emoji_dir, element_groups
    from layerdiff.eval.harness import emoji_samples, markdown_table

    if args.merge:
        for mode, summary in merge([Path(d) for d in args.merge], Path(args.output), args.num_layers).items():
            print(f"\n## merged {len(args.merge)} runs, count {mode}\n")
            print(markdown_table(summary), flush=True)
        return 0

    folder = Path(args.emoji_dir) if args.emoji_dir else default_emoji_dir()
    if not folder.is_dir():
        print(f"bench_emoji: emoji folder not found: {folder} (the held-out set is built from "
              "../shared/data/noto-emoji-svg next to the checkout; set LAYERDIFF_EMOJI_DIR or --emoji-dir)",
              file=sys.stderr)
        return 2
    start = time.perf_counter()
    if args.set_from:
        made = json.loads(Path(args.set_from).read_text())
        groups = {stem: g for stem, g in made["emoji"].items()}
        args.seed = made["seed"]
        args.max_layers, args.min_visible = made["max_layers"], made["min_visible"]
        samples = emoji_samples(size=args.size, max_layers=args.max_layers, min_visible=args.min_visible,
                                folder=folder, stems=list(groups))
        stems = list(groups)
    else:
        samples = emoji_samples(args.count, args.seed, args.size, args.max_layers, args.min_visible, folder)
        stems = [s.name.removeprefix("emoji-") for s in samples]
        if len(samples) < args.count:
            print(f"bench_emoji: only {len(samples)} held-out emoji in {folder} can be split; using them all",
                  file=sys.stderr)
        groups = {stem: element_groups((folder / f"{stem}.svg").read_bytes(), args.max_layers, args.min_visible,
                                       stem) for stem in stems}
    if args.list or not args.quiet:
        counts = [len(g) for g in groups.values()]
        print(f"{len(stems)} emoji (seed {args.seed}), {sum(counts)} layers, "
              f"{min(counts)}-{max(counts)} per emoji, built in {time.perf_counter() - start:.1f} s")
    if args.list:
        for stem, g in groups.items():
            print(f"{stem}\t{len(g)} layers\telements {g}")
        return 0
    record: dict[str, Any] = {"commit": git_commit(), "emoji_dir": str(folder), "count": len(stems),
                              "seed": args.seed, "size": args.size, "max_layers": args.max_layers,
                              "min_visible": args.min_visible, "emoji": groups}
    if args.write_set:
        from layerdiff.io.pngdir import write_pngdir

        out_set = Path(args.write_set)
        out_set.mkdir(parents=True, exist_ok=True)
        for sample in samples:
            write_pngdir(sample.load(), out_set / sample.name)
        (out_set / "set.json").write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {len(samples)} PNG layer folders to {out_set}")
    if not args.output:
        return 0
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "set.json").write_text(json.dumps(record, indent=1) + "\n")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    log = None if args.quiet else (lambda msg: print(msg, flush=True))
    k, n = args.shard
    summaries = score_modes(samples[k::n], models, out, args.num_layers, resume=args.resume, log=log)
    for mode, summary in summaries.items():
        print(f"\n## emoji held-out set, {len(stems)} emoji, count {mode} (commit {record['commit']})\n")
        print(markdown_table(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
