"""``layerdiff info FILE``: print the layer stack of a layered or flat image."""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from typing import Any

from layerdiff.layered import LayeredImage


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "info", help="print the layers of a PSD/ORA/PNG/... file",
        description="Print the layer stack (top layer first): index, name, size, offset, opacity, "
                    "visibility, blend mode and group path.")
    p.add_argument("file", help="PSD, PSB, ORA, PNG/JPEG/WebP/TIFF, PNG folder or ZIP")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def describe(image: LayeredImage) -> dict[str, Any]:
    """A JSON-ready description of ``image``; layers bottom to top (index 0 = bottom)."""
    return {
        "width": image.width, "height": image.height, "bit_depth": image.bit_depth,
        "metadata": image.metadata,
        "layers": [
            {"index": i, "name": layer.name, "width": layer.width, "height": layer.height,
             "offset": list(layer.offset), "opacity": round(layer.opacity, 4), "visible": layer.visible,
             "blend_mode": layer.blend_mode, "group": list(layer.metadata.get("group") or [])}
            for i, layer in enumerate(image.layers)
        ],
    }


def format_table(path: str, info: dict[str, Any]) -> str:
    fmt = info["metadata"].get("format", "?")
    run = info["metadata"].get("run")
    lines = [f"{path}: {fmt}, {info['width']}x{info['height']}, {len(info['layers'])} layer(s), "
             f"{info['bit_depth']}-bit" + (f", written by run {run}" if run else "")]
    header = ("#", "name", "size", "offset", "opacity", "visible", "blend", "group")
    rows = [header]
    for layer in reversed(info["layers"]):  # top first, as editors show them
        rows.append((str(layer["index"]), layer["name"], f"{layer['width']}x{layer['height']}",
                     f"{layer['offset'][0]},{layer['offset'][1]}", f"{layer['opacity']:.2f}",
                     "yes" if layer["visible"] else "no", layer["blend_mode"], "/".join(layer["group"])))
    widths = [max(len(r[c]) for r in rows) for c in range(len(header))]
    for r in rows:
        lines.append("  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from layerdiff.io import load

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = load(args.file)
    for w in caught:
        print(f"layerdiff info: warning: {w.message}", file=sys.stderr)
    info = describe(image)
    text = (json.dumps({"path": args.file, **info}, indent=2, ensure_ascii=False, default=str) if args.json
            else format_table(args.file, info))
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # the reader left (``layerdiff info x.psd | head -1``): not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the flush at exit does not fail again
    return 0
