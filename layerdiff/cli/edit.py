"""``layerdiff edit FILE``: edit one layer of a layered file; the other layers stay as they are."""

from __future__ import annotations

import argparse
from pathlib import Path

from layerdiff.cli.outputs import add_output_args, write_outputs


def register(sub: argparse._SubParsersAction) -> None:
    from layerdiff.edit_ops import OPERATIONS
    from layerdiff.registry import DEFAULT_MODEL, model_names

    p = sub.add_parser("edit", help="edit one layer (move, scale, recolor, ..., regenerate, insert)",
                       description="Edit one layer of a PSD/ORA/PNG-stack. Exact operations need no model; "
                                   "'regenerate' and 'insert' run the diffusion model with the other layers fixed.")
    p.add_argument("file", help="layered input (PSD, ORA, PNG folder or ZIP)")
    p.add_argument("--layer", default="-1", help="layer index (0 = bottom, -1 = top) or name")
    p.add_argument("--op", default=None, choices=[*OPERATIONS, "regenerate", "insert"])
    p.add_argument("--text", default=None, help="new words for a text layer (\\n starts a line); with --color, "
                   "--font-size, --font-family: re-render it in its own style (instead of --op)")
    p.add_argument("--font-size", type=float, default=None, help="text layer font size in px")
    p.add_argument("--font-family", default=None, help="text layer font family (installed here)")
    p.add_argument("--dx", type=int, default=0)
    p.add_argument("--dy", type=int, default=0)
    p.add_argument("--factor", type=float, default=None, help="scale factor (--op scale)")
    p.add_argument("--color", default=None, help="#rrggbb (--op recolor)")
    p.add_argument("--value", type=float, default=None, help="opacity in [0, 1] (--op opacity)")
    p.add_argument("--index", type=int, default=None, help="new stack position (--op reorder)")
    p.add_argument("--prompt", default="", help="text for regenerate / insert")
    p.add_argument("--box", default=None, metavar="X0,Y0,X1,Y1", help="where inserted content goes")
    p.add_argument("--model", default=DEFAULT_MODEL, choices=model_names(task="edit"))
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-refine", action="store_true",
                   help="keep the transformer's layers as decoded (skip the model's layer refiner, if it has one)")
    p.add_argument("--refine-passes", type=int, default=None,
                   help="how many times the layer refiner redraws each outline (default: the model's)")
    add_output_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.op is None or args.text is not None or args.font_size is not None or args.font_family is not None:
        from layerdiff.text.edit import run_text_edit

        return run_text_edit(args)
    import torch

    from layerdiff import edit_ops
    from layerdiff.cli.generate import parse_box
    from layerdiff.errors import LayerdiffError
    from layerdiff.io import load

    image = load(args.file)
    layer: int | str = int(args.layer) if args.layer.lstrip("-").isdigit() else args.layer
    try:
        image.index_of(layer)  # checked before any model loads, and reported as it is
    except (KeyError, IndexError) as err:
        raise LayerdiffError(f"{args.file}: {err.args[0] if err.args else err}") from None
    if args.op in ("regenerate", "insert"):
        from layerdiff.pipelines import LayerEditPipeline

        pipe = LayerEditPipeline.from_pretrained(args.model)
        box = parse_box(args.box) if args.box else None
        edited = pipe(image, layer=layer, operation=args.op, prompt=args.prompt, box=box,
                      num_inference_steps=args.steps, generator=torch.Generator().manual_seed(args.seed),
                      output_type="np", refine=not args.no_refine,
                      refine_passes=args.refine_passes).images[0]
    else:
        options = {"dx": args.dx, "dy": args.dy, "factor": args.factor, "color": args.color,
                   "value": args.value, "index": args.index}
        try:
            edited = edit_ops.apply(image, layer, args.op, **{k: v for k, v in options.items() if v is not None})
        except (KeyError, IndexError, ValueError) as err:
            text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
            raise LayerdiffError(f"{args.file}: {text}") from None
    for path in write_outputs(edited, args, Path(args.file).stem + "_edited"):
        print(f"wrote {path}")
    return 0
