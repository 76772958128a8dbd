"""Real flags and the remaining held-out emoji split per element, in a validation and a test half
(issue 28 items 1 and 2g).

    python benchmarks/bench_flags.py --list                           # the two halves of both sets
    python benchmarks/bench_flags.py --split validation -o runs/flags-val   # tune on this half only
    python benchmarks/bench_flags.py --split test -o runs/flags-test        # report this half only

The sets, from ``../shared/data/noto-emoji-svg`` (or ``$LAYERDIFF_EMOJI_DIR``; Noto Emoji, Apache-2.0):

- *flags*: every regional-indicator flag (``u1f1e6_1f1e8`` ... two code points in 1F1E6-1F1FF). Noto
  draws a flag's field, stripes, canton and emblem inside one plain group, then a translucent outline;
  :func:`layerdiff.data.emoji.flatten_groups` lifts the group's elements to the top level and
  :func:`layerdiff.data.emoji.element_layers` splits them as ``bench_emoji.py`` splits emoji
  (consecutive elements of one paint are one layer; the least visible layer joins the one drawn before
  it while it shows less than ``--min-visible`` of the canvas or there are more than ``--max-layers``);
- *emoji*: the emoji the training data never drew (:func:`layerdiff.data.emoji.never_trained`) that
  ``bench_emoji.py``'s held-out selection (100 emoji, seed 28) did not pick, split the same way.

Training never draws either set: :class:`layerdiff.data.emoji.EmojiLibrary`, the emoji source of every
synthetic design, keeps single-code-point emoji only (``--list`` checks it). Flags or emoji that cannot
be split (one layer, or layers that do not composite back to the whole render) are left out. Each set
is cut in two halves by a permutation drawn with ``--seed``: ``validation`` (tune on it) and ``test``
(report only). Scores: :func:`bench_emoji.score_modes` into ``OUT/<set>/<mode>/``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_emoji import git_commit, score_modes  # noqa: E402

SETS = ("flags", "emoji")


def splittable(folder: Path, stems: list[str], flatten: bool, max_layers: int, min_visible: float
               ) -> dict[str, list[list[int]]]:
    """The element groups of the ``stems`` that split into layers compositing back to the whole
    (checked at :data:`layerdiff.data.emoji.ANALYSIS_PX`), in the order given."""
    from layerdiff.data.emoji import ANALYSIS_PX, element_layers, flatten_groups

    groups = {}
    for stem in stems:
        svg = (folder / f"{stem}.svg").read_bytes()
        svg = flatten_groups(svg, stem) if flatten else svg
        try:
            groups[stem] = element_layers(svg, ANALYSIS_PX, max_layers, min_visible, stem)[1]
        except ValueError:
            continue
    return groups


def set_stems(folder: Path, which: str) -> list[str]:
    """All stems of one set before splitting: the flags, or the held-out emoji bench_emoji did not pick."""
    from layerdiff.data.emoji import flag_stems, heldout_selection, heldout_stems

    if which == "flags":
        return flag_stems(folder)
    picked = set(heldout_selection(100, 28, folder))
    return [s for s in heldout_stems(folder) if s not in picked]


def halves(stems: list[str], seed: int) -> dict[str, list[str]]:
    """``stems`` cut by a permutation drawn with ``seed``: the first half (rounded up) is validation."""
    order = [stems[int(k)] for k in np.random.default_rng(seed).permutation(len(stems))]
    cut = (len(order) + 1) // 2
    return {"validation": sorted(order[:cut]), "test": sorted(order[cut:])}


def samples_of(folder: Path, stems: list[str], flatten: bool, size: int, max_layers: int,
               min_visible: float) -> list[Any]:
    """Evaluation samples (``flag-<stem>`` or ``emoji-<stem>``): transparent ``size``-px element stacks."""
    from layerdiff.data.emoji import element_layers, flatten_groups
    from layerdiff.eval.harness import EvalSample
    from layerdiff.layered import LayeredImage

    def load(stem: str) -> LayeredImage:
        svg = (folder / f"{stem}.svg").read_bytes()
        svg = flatten_groups(svg, stem) if flatten else svg
        layers, _ = element_layers(svg, size, max_layers, min_visible, stem)
        return LayeredImage.from_numpy(np.stack(layers), names=[f"{stem} part {i + 1}" for i in range(len(layers))])

    prefix = "flag" if flatten else "emoji"
    return [EvalSample(f"{prefix}-{stem}", (lambda stem=stem: load(stem))) for stem in stems]


def training_draws(folder: Path, stems: list[str]) -> list[str]:
    """The ``stems`` that the training data's emoji library can draw (must be none)."""
    from layerdiff.data.emoji import EmojiLibrary

    try:
        drawn = set(EmojiLibrary(folder).names)
    except FileNotFoundError:  # no single-code-point emoji in the folder: training draws none of it
        return []
    return [s for s in stems if s in drawn]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", help="output folder of the scores (OUT/<set>/<mode>/)")
    ap.add_argument("--split", choices=("validation", "test"), default="validation",
                    help="which half to score (tune on validation, report test)")
    ap.add_argument("--sets", default="flags,emoji", help="comma-separated sets: flags, emoji")
    ap.add_argument("--models", default="layerdiff-tiny,cluster-matting,single-layer",
                    help="comma-separated model names (see `layerdiff models`)")
    ap.add_argument("--num-layers", nargs="+", choices=("auto", "gt"), default=["auto", "gt"],
                    help="count modes to run: auto (each model chooses) and/or gt (the true count)")
    ap.add_argument("--seed", type=int, default=2818, help="seed of the permutation that cuts the halves")
    ap.add_argument("--size", type=int, default=512, help="canvas side in pixels")
    ap.add_argument("--max-layers", type=int, default=6, help="most ground-truth layers per flag or emoji")
    ap.add_argument("--min-visible", type=float, default=0.005,
                    help="smallest visible area of a ground-truth layer, as a share of the canvas")
    ap.add_argument("--limit", type=int, help="score only the first N of each half (a quick look)")
    ap.add_argument("--emoji-dir", help="folder of Noto emoji SVGs (default: $LAYERDIFF_EMOJI_DIR or "
                    "../shared/data/noto-emoji-svg next to the checkout)")
    ap.add_argument("--list", action="store_true", help="print both halves of every set, then stop")
    ap.add_argument("--write-set", metavar="DIR",
                    help="also write the chosen half as PNG layer folders DIR/<set>/<name> (input of `layerdiff eval`)")
    ap.add_argument("--resume", action="store_true", help="keep the scores already in OUT and score the rest")
    ap.add_argument("--set-from", metavar="SET_JSON",
                    help="take the halves and their groups from a set.json written before (building the sets "
                         "renders every element group, minutes)")
    ap.add_argument("--quiet", action="store_true", help="print only the summary tables")
    args = ap.parse_args(argv)
    if not (args.output or args.list or args.write_set):
        ap.error("give -o OUT to score, --list, or --write-set DIR")
    args.sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    if not args.sets or any(s not in SETS for s in args.sets):
        ap.error(f"--sets takes a comma-separated choice of {', '.join(SETS)}")
    if args.size < 8 or args.max_layers < 2 or not 0.0 <= args.min_visible < 1.0 or (args.limit or 1) < 1:
        ap.error("need --size >= 8, --max-layers >= 2, 0 <= --min-visible < 1 and --limit >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from layerdiff.data.emoji import default_emoji_dir
    from layerdiff.eval.harness import markdown_table

    folder = Path(args.emoji_dir) if args.emoji_dir else default_emoji_dir()
    if not folder.is_dir():
        print(f"bench_flags: emoji folder not found: {folder} (the sets are built from "
              "../shared/data/noto-emoji-svg next to the checkout; set LAYERDIFF_EMOJI_DIR or --emoji-dir)",
              file=sys.stderr)
        return 2
    record: dict[str, Any] = {"commit": git_commit(), "emoji_dir": str(folder), "seed": args.seed,
                              "size": args.size, "max_layers": args.max_layers, "min_visible": args.min_visible}
    made = json.loads(Path(args.set_from).read_text()) if args.set_from else None
    if made is not None:
        args.seed, args.max_layers, args.min_visible = made["seed"], made["max_layers"], made["min_visible"]
        record.update(seed=args.seed, max_layers=args.max_layers, min_visible=args.min_visible)
    chosen: dict[str, list[str]] = {}
    for which in args.sets:
        start = time.perf_counter()
        if made is not None:
            cut = {half: list(made[which][half]) for half in ("validation", "test")}
            groups = {**made[which]["validation"], **made[which]["test"]}
        else:
            groups = splittable(folder, set_stems(folder, which), which == "flags", args.max_layers,
                                args.min_visible)
            cut = halves(list(groups), args.seed)
        drawn = training_draws(folder, list(groups))
        if drawn:
            print(f"bench_flags: training draws {len(drawn)} of the {which} ({', '.join(drawn[:5])})", file=sys.stderr)
            return 1
        chosen[which] = cut[args.split][:args.limit] if args.limit else cut[args.split]
        record[which] = {half: {s: groups[s] for s in cut[half]} for half in cut}
        counts = [len(groups[s]) for s in chosen[which]]
        if counts and not args.quiet:
            print(f"{which}: {len(groups)} split into layers, none drawn in training; {args.split} half "
                  f"{len(chosen[which])} ({min(counts)}-{max(counts)} layers, mean {np.mean(counts):.1f}); "
                  f"{time.perf_counter() - start:.1f} s")
        if args.list:
            for half, stems in cut.items():
                print(f"{which} {half} ({len(stems)}): {' '.join(stems)}")
    if args.list:
        return 0
    samples = {which: samples_of(folder, chosen[which], which == "flags", args.size, args.max_layers,
                                 args.min_visible) for which in args.sets}
    if args.write_set:
        from layerdiff.io.pngdir import write_pngdir

        out_set = Path(args.write_set)
        for which, items in samples.items():
            for sample in items:
                write_pngdir(sample.load(), out_set / which / sample.name)
        out_set.mkdir(parents=True, exist_ok=True)
        (out_set / "set.json").write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {sum(map(len, samples.values()))} PNG layer folders to {out_set}")
    if not args.output:
        return 0
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "set.json").write_text(json.dumps(record, indent=1) + "\n")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    log = None if args.quiet else (lambda msg: print(msg, flush=True))
    for which, items in samples.items():
        summaries = score_modes(items, models, out / which, args.num_layers, resume=args.resume, log=log)
        for mode, summary in summaries.items():
            print(f"\n## {which}, {args.split} half, {len(items)} samples, count {mode} "
                  f"(commit {record['commit']})\n")
            print(markdown_table(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
