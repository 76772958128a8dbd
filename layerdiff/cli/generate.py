"""``layerdiff generate PROMPT``: text to a layered image."""

from __future__ import annotations

import argparse
import re

from layerdiff.cli.outputs import add_output_args, write_outputs


def register(sub: argparse._SubParsersAction) -> None:
    from layerdiff.registry import model_names

    p = sub.add_parser("generate", help="generate a layered image from text",
                       description="Generate RGBA layers from a text prompt and write them as PSD and PNG layers.")
    p.add_argument("prompt", help="description of the image")
    p.add_argument("--model", default="layerdiff-tiny", choices=model_names("layerdiff"))
    p.add_argument("--layers", default="3", help="number of layers (background included) or 'auto'")
    p.add_argument("--size", default=None, help="output size WxH (default: the model's native size)")
    p.add_argument("--box", action="append", default=None, metavar="X0,Y0,X1,Y1",
                   help="layout box of one layer (repeat once per layer; 'none' for a layer without box)")
    p.add_argument("--layer-prompt", action="append", default=None, metavar="TEXT",
                   help="caption of one layer, bottom to top (repeat once per layer; '' for a layer without one): "
                        "binds that description to that layer")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--guidance", type=float, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-refine", action="store_true",
                   help="keep the transformer's layers as decoded (skip the model's layer refiner, if it has one)")
    p.add_argument("--refine-passes", type=int, default=None,
                   help="how many times the layer refiner redraws each outline (default: the model's)")
    add_output_args(p)
    p.set_defaults(func=run)


def parse_box(text: str) -> tuple[float, float, float, float] | None:
    from layerdiff.errors import LayerdiffError

    if text.strip().lower() == "none":
        return None
    parts = [v for v in re.split(r"[,\s]+", text.strip()) if v]
    try:
        values = tuple(float(v) for v in parts)
    except ValueError:
        values = ()
    if len(values) != 4:
        raise LayerdiffError(f"box {text!r}: expected four numbers x0,y0,x1,y1")
    return values  # type: ignore[return-value]


def run(args: argparse.Namespace) -> int:
    import torch

    from layerdiff.errors import LayerdiffError
    from layerdiff.pipelines import LayerGeneratePipeline

    if not args.prompt.strip():
        raise LayerdiffError("the prompt is empty: describe the image, e.g. layerdiff generate 'a red circle on blue'")
    width = height = None
    if args.size:
        m = re.fullmatch(r"(\d+)[xX](\d+)", args.size.strip())
        if not m:
            raise LayerdiffError(f"--size {args.size!r}: expected WxH, e.g. 512x384")
        width, height = int(m.group(1)), int(m.group(2))
        if width < 1 or height < 1:
            raise LayerdiffError(f"--size {args.size!r}: width and height must be positive, e.g. 512x384")
    layers = args.layers if args.layers == "auto" else int(args.layers)
    boxes = [parse_box(b) for b in args.box] if args.box else None
    pipe = LayerGeneratePipeline.from_pretrained(args.model)
    out = pipe(args.prompt, num_layers=layers, layer_prompts=args.layer_prompt, boxes=boxes, width=width, height=height,
               num_inference_steps=args.steps, guidance_scale=args.guidance,
               generator=torch.Generator().manual_seed(args.seed), output_type="np", refine=not args.no_refine,
               refine_passes=args.refine_passes)
    image = out.images[0]
    for path in write_outputs(image, args, "generated"):
        print(f"wrote {path}")
    return 0
