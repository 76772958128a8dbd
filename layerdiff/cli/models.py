"""``layerdiff models``: list the registered model presets."""

from __future__ import annotations

import argparse
import json

from layerdiff.registry import ModelPreset, list_presets


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("models", help="list model presets",
                              description="List the registry's model presets: name, kind, native resolution, "
                                          "maximum layers, weights location and licence.")
    p.add_argument("--kind", default=None, help="only presets of this kind (e.g. layerdiff, decomposer)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def preset_row(preset: ModelPreset) -> dict[str, object]:
    location = preset.weights_path()
    return {"name": preset.name, "kind": preset.kind, "native_resolution": preset.native_resolution,
            "max_layers": preset.max_layers,
            "weights": "random init (no weights)" if location is None else str(location),
            "license": preset.license, "description": preset.description}


def run(args: argparse.Namespace) -> int:
    rows = [preset_row(p) for p in list_presets(args.kind)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no presets of kind {args.kind!r}")
        return 0
    cols = ("name", "kind", "native_resolution", "max_layers", "weights", "license")
    titles = ("name", "kind", "native px", "max layers", "weights", "licence")
    table = [titles] + [tuple(str(r[c]) for c in cols) for r in rows]
    widths = [max(len(t[i]) for t in table) for i in range(len(cols))]
    for t in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(t, widths)).rstrip())
    return 0
