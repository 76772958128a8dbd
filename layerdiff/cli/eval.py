"""``layerdiff eval DATA --models a,b -o OUT``: score decomposers on ground-truth layer stacks."""

from __future__ import annotations

import argparse
import sys

from layerdiff.errors import LayerdiffError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "eval", help="score decomposers on ground-truth layer stacks (LayerD metric)",
        description="Decompose the composite of every ground-truth stack with each model and score the "
                    "result with the LayerD protocol (RGB L1 and alpha soft IoU after DTW alignment, merge "
                    "budgets 0-5), recomposition PSNR, layer-count error and time per image. Writes "
                    "results.csv, summary.md and summary.json to OUT_DIR.")
    p.add_argument("data", nargs="?", help="folder of ground-truth stacks (PSD/PSB, ORA, PNG folders, ZIPs); "
                                           "omit with --synthetic")
    p.add_argument("--models", required=True, help="comma-separated model names (see `layerdiff models`)")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--limit", type=int, default=None, help="evaluate the first N stacks only")
    p.add_argument("--num-layers", choices=("auto", "gt"), default="auto",
                   help="let each model choose the count (auto) or ask for the ground truth's (gt)")
    p.add_argument("--synthetic", type=int, metavar="N", default=None,
                   help="evaluate on N held-out synthetic designs instead of DATA")
    p.add_argument("--seed", type=int, default=10_000, help="seed of the synthetic designs")
    p.add_argument("--size", type=int, default=512, help="canvas side of the synthetic designs")
    p.add_argument("--max-edits", type=int, default=5, help="largest merge budget reported")
    p.add_argument("--quiet", action="store_true", help="print only the summary table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from layerdiff.data.emoji import default_emoji_dir
    from layerdiff.eval.harness import folder_samples, markdown_table, run_eval, synthetic_samples

    if args.limit is not None and args.limit < 1:
        raise LayerdiffError(f"--limit must be >= 1, got {args.limit}")
    if args.max_edits < 0:
        raise LayerdiffError(f"--max-edits must be >= 0, got {args.max_edits}")
    if (args.synthetic is None) == (args.data is None):
        raise LayerdiffError("give either DATA or --synthetic N")
    try:
        if args.synthetic is not None:
            count = args.synthetic if args.limit is None else min(args.synthetic, args.limit)
            samples = synthetic_samples(count, seed=args.seed, size=args.size)
            emoji = default_emoji_dir()
            if not emoji.is_dir():  # the designs are drawn without emoji icons: other designs, other figures
                print(f"note: no emoji folder at {emoji} ($LAYERDIFF_EMOJI_DIR): the synthetic designs have no "
                      "emoji icons, so their figures are not those of BENCHMARKS.md", file=sys.stderr)
        else:
            samples = folder_samples(args.data, limit=args.limit)
        log = None if args.quiet else (lambda msg: print(msg, file=sys.stderr))
        report = run_eval(samples, args.models.split(","), args.output, num_layers=args.num_layers,
                          max_edits=args.max_edits, log=log)
    except ValueError as err:
        if isinstance(err, LayerdiffError):
            raise
        raise LayerdiffError(str(err)) from err
    print(markdown_table(report.summary, args.max_edits), end="")
    return 0 if all(e["errors"] == 0 for e in report.summary) else 1
