"""``layerdiff models``: list the registered model presets."""

from __future__ import annotations

import argparse
import json

from layerdiff.registry import TASKS, ModelPreset, list_presets


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("models", help="list model presets",
                              description="List the registry's model presets: name, kind, the tasks each serves "
                                          "(methods in order of preference), native resolution, the one layer "
                                          "limit, weights location and licence.")
    p.add_argument("--kind", default=None, help="only presets of this kind (e.g. layerdiff, decomposer)")
    p.add_argument("--task", default=None, choices=TASKS, help="only presets serving this task")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def preset_row(preset: ModelPreset) -> dict[str, object]:
    location = preset.weights_path()
    makes_layers = preset.serves("decompose") or preset.serves("generate")
    return {"name": preset.name, "kind": preset.kind,
            "tasks": {task: list(methods) for task, methods in preset.tasks.items()},
            "native_resolution": preset.native_resolution,
            "max_layers": preset.max_layers if makes_layers else None,
            "weights": "random init (no weights)" if location is None else str(location),
            "license": preset.license, "description": preset.description}


def _tasks_cell(tasks: dict[str, list[str]]) -> str:
    return " ".join(f"{task}({'/'.join(methods)})" for task, methods in tasks.items())


def run(args: argparse.Namespace) -> int:
    rows = [preset_row(p) for p in list_presets(args.kind, args.task)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no presets" + (f" of kind {args.kind!r}" if args.kind else "")
              + (f" serving {args.task!r}" if args.task else ""))
        return 0
    cols = ("name", "kind", "tasks", "native_resolution", "max_layers", "weights", "license")
    titles = ("name", "kind", "tasks (methods)", "native px", "max layers", "weights", "licence")
    cells = {"tasks": _tasks_cell, "max_layers": lambda v: "-" if v is None else str(v)}
    table = [titles] + [tuple(cells.get(c, str)(r[c]) for c in cols) for r in rows]
    widths = [max(len(t[i]) for t in table) for i in range(len(cols))]
    for t in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(t, widths)).rstrip())
    return 0
