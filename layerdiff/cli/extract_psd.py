"""``layerdiff extract-psd IN_DIR -o OUT_DIR``: turn a folder of PSD/PSB files into training shards."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "extract-psd", help="extract PSD/PSB files into layered training shards",
        description="Extract every PSD/PSB under IN_DIR into one .npz shard per file (hidden, empty and "
                    "no-effect layers dropped, non-overlapping layers merged down to --max-layers) and "
                    "write extract_report.json. Bad files are recorded as failures; the run goes on.")
    p.add_argument("in_dir", metavar="IN_DIR", help="folder searched recursively for *.psd and *.psb")
    p.add_argument("-o", "--output", required=True, metavar="OUT_DIR", help="folder for shards and report")
    p.add_argument("--max-layers", type=int, default=8,
                   help="layers kept per file at most (default: %(default)s)")
    p.add_argument("--size", type=int, default=None, help="scale larger files down to SIZE px (longest side)")
    p.add_argument("--workers", type=int, default=1, help="processes extracting in parallel (default: 1)")
    p.add_argument("--no-resume", action="store_true", help="extract again files whose shard exists")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from layerdiff.data.psd_extract import REPORT_NAME, extract_folder
    from layerdiff.errors import LayerdiffError

    if args.max_layers < 1:
        raise LayerdiffError(f"--max-layers must be at least 1, got {args.max_layers}")
    if args.workers < 1:
        raise LayerdiffError(f"--workers must be at least 1, got {args.workers}")
    if args.size is not None and args.size < 1:
        raise LayerdiffError(f"--size must be positive, got {args.size}")
    report = extract_folder(args.in_dir, args.output, max_layers=args.max_layers, size=args.size,
                            resume=not args.no_resume, workers=args.workers, verbose=not args.quiet)
    print(f"{report['extracted']} of {report['files']} files extracted, {report['failed']} failed; "
          f"layers {report['layers_in']} in, {report['layers_kept']} kept; "
          f"dropped {report['dropped_by_reason']}; merges {report['merges_by_reason']}; "
          f"max recomposition error {report['max_error'] * 255:.2f}/255 ({report['seconds']} s)")
    for failure in report["failures"]:
        print(f"  failed: {failure['error']}")
    print(f"report: {args.output}/{REPORT_NAME}")
    return 0
