"""Output options shared by the subcommands that write layered images."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from layerdiff.layered import LayeredImage

FORMATS = ("psd", "png", "ora", "zip", "svg")

EIGHT_BIT_FORMATS = ("svg",)
"""Output formats that hold 8 bits per channel only (SVG embeds 8-bit PNGs); the others keep 16."""


def add_output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", default=None,
                   help="output folder (default: ./<input name>_layers)")
    p.add_argument("--formats", default="psd,png",
                   help=f"comma-separated output formats from {', '.join(FORMATS)} (default: %(default)s)")


def write_outputs(image: LayeredImage, args: argparse.Namespace, stem: str) -> list[Path]:
    """Write ``image`` in every requested format under the output folder, as one set.

    All outputs are staged and renamed into place together, and each records the same run id
    (see :func:`layerdiff.io.save_set`); an existing ``png/`` folder is replaced only if layerdiff
    wrote it. A 16-bit ``image`` is written with 16 bits where the format holds them (PSD, PNG, ORA,
    ZIP); one warning naming the input (``args.image`` or ``args.file``) lists the formats reduced to 8 bits.
    """
    from layerdiff.errors import LayerdiffError
    from layerdiff.io import save_set

    formats = [f.strip().lower() for f in args.formats.split(",") if f.strip()]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise LayerdiffError(f"--formats: unknown format(s) {unknown}; choose from {', '.join(FORMATS)}")
    out_dir = Path(args.output) if args.output else Path.cwd() / f"{stem}_layers"
    if out_dir.exists() and not out_dir.is_dir():
        raise LayerdiffError(f"{out_dir}: the output path exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    targets = [(out_dir / (f"{stem}.{fmt}" if fmt != "png" else "png"), "png-dir" if fmt == "png" else fmt)
               for fmt in dict.fromkeys(formats)]
    reduced = [fmt.upper() for fmt in dict.fromkeys(formats) if fmt in EIGHT_BIT_FORMATS]
    if image.bit_depth == 16 and reduced:
        source = getattr(args, "image", None) or getattr(args, "file", None) or stem
        warnings.warn(f"{source}: 16-bit layers written with 8 bits in {', '.join(reduced)} "
                      "(the format holds 8 bits)", stacklevel=2)
    written, _run = save_set(image, targets)
    return written
