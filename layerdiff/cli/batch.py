"""``layerdiff batch IN_DIR -o OUT_DIR``: decompose every asset of a folder; restartable; local or Ray.

Exit codes: 0 when every input is done or skipped, 1 when any input failed (each failure is in
``OUT_DIR/manifest.jsonl`` with its reason) or the run could not start, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import sys

EPILOG = """\
Writes OUT_DIR/<relative path without extension>/ per asset (<name>.psd, png/, asset.json) and
appends one line per input to OUT_DIR/manifest.jsonl (done / failed with reason / skipped).
Run the same command again after a crash or kill: finished assets are skipped, the rest redone.
Exit code: 0 if no input failed, 1 if any failed, 130 if interrupted. See docs/batch.md."""


def register(sub: argparse._SubParsersAction) -> None:
    from layerdiff.registry import DEFAULT_MODEL

    p = sub.add_parser("batch", help="decompose every asset of a folder (restartable; local or Ray)",
                       description="Decompose every PSD, PSB, ORA, PNG, JPEG, WebP and TIFF file "
                                   "under IN_DIR.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("in_dir", metavar="IN_DIR", help="folder of assets (searched recursively)")
    p.add_argument("-o", "--output", required=True, metavar="OUT_DIR", help="output folder")
    p.add_argument("--model", default=DEFAULT_MODEL,
                   help="decomposer from the registry (see `layerdiff models`; default: %(default)s)")
    p.add_argument("--layers", default="auto", help="number of layers per asset, or 'auto' (default)")
    p.add_argument("--max-layers", type=int, default=None, help="upper bound for --layers auto")
    p.add_argument("--per-layer", action="store_true",
                   help="decompose each visible layer of a layered file instead of its flattened image")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes (local; 0 = in this process) or actors (ray) (default: 1)")
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="where to run (default: local)")
    p.add_argument("--address", default=None,
                   help="Ray cluster address (e.g. ray://head:10001 or auto); default: a private local Ray")
    p.add_argument("--limit", type=int, default=None, help="only the first N inputs in sorted order")
    p.add_argument("--timeout", type=float, default=None, help="seconds per asset before it counts as failed")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE[:FUNCTION]",
                   help="import a module (and call FUNCTION) that registers extra decomposers; repeatable")
    p.add_argument("--device", default="auto",
                   help="torch device for the model: auto, cpu, cuda (default: auto)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from layerdiff.batch import run_batch
    from layerdiff.cli.decompose import parse_layers
    from layerdiff.errors import LayerdiffError

    layers = args.layers if args.layers == "auto" else parse_layers(args.layers)
    try:
        summary = run_batch(args.in_dir, args.output, model=args.model, layers=layers,
                            max_layers=args.max_layers, per_layer=args.per_layer, workers=args.workers,
                            backend=args.backend,
                            address=args.address, limit=args.limit, timeout=args.timeout, plugins=args.plugin,
                            device=args.device, progress=not args.quiet)
    except ValueError as err:
        raise LayerdiffError(str(err)) from None
    c = summary.counts
    print(f"{c['done']} done, {c['failed']} failed, {c['skipped']} skipped in {summary.seconds:.1f} s "
          f"({summary.assets_per_minute():.1f} assets/min); manifest: {summary.manifest_path}")
    for reason, n in sorted(summary.failures.items()):
        print(f"  failed ({reason}): {n}", file=sys.stderr)
    return summary.exit_code
