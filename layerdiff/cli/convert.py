"""``layerdiff convert IN OUT``: convert between PSD, ORA, PNG folders, ZIPs and flat images."""

from __future__ import annotations

import argparse
import sys
import warnings

from layerdiff.errors import LayerdiffError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("convert", help="convert a layered image to PSD, ORA, PNG folder, ZIP or SVG",
                              description="Read any supported input (detected from its content) and write "
                                          "OUT; the output format comes from OUT's extension (.psd, .ora, "
                                          ".zip, .svg, a folder or .png-dir) unless --format is given.")
    p.add_argument("input", help="PSD, PSB, ORA, PNG/JPEG/WebP/TIFF, PNG folder or ZIP")
    p.add_argument("output", help="output path")
    p.add_argument("--format", choices=["psd", "ora", "zip", "png-dir", "svg"], default=None,
                   help="output format (default: from the extension)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from layerdiff.io import load, save

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = load(args.input)
        try:
            written = save(image, args.output, format=args.format)
        except ValueError as err:
            raise LayerdiffError(str(err)) from None
    for w in caught:
        print(f"layerdiff convert: warning: {w.message}", file=sys.stderr)
    print(f"{args.input} -> {written} ({len(image)} layer(s), {image.width}x{image.height})")
    return 0
