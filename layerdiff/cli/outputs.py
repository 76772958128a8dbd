"""Output options shared by the subcommands that write layered images."""

from __future__ import annotations

import argparse
from pathlib import Path

from layerdiff.layered import LayeredImage

FORMATS = ("psd", "png", "ora", "zip")


def add_output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", default=None,
                   help="output folder (default: ./<input name>_layers)")
    p.add_argument("--formats", default="psd,png",
                   help=f"comma-separated output formats from {', '.join(FORMATS)} (default: %(default)s)")


def write_outputs(image: LayeredImage, args: argparse.Namespace, stem: str) -> list[Path]:
    """Write ``image`` in every requested format under the output folder (each write atomic)."""
    from layerdiff.errors import LayerdiffError
    from layerdiff.io import save

    formats = [f.strip().lower() for f in args.formats.split(",") if f.strip()]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise LayerdiffError(f"--formats: unknown format(s) {unknown}; choose from {', '.join(FORMATS)}")
    out_dir = Path(args.output) if args.output else Path.cwd() / f"{stem}_layers"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        target = out_dir / (f"{stem}.{fmt}" if fmt != "png" else "png")
        save(image, target)
        written.append(target)
    return written
