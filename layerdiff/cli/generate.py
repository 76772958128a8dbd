"""``layerdiff generate PROMPT``: text to a layered image.

Without ``--layer-prompt`` the caption goes through the layer planner (:mod:`layerdiff.planning`): the
plan (background, one layer per object, text layers, boxes) is printed with ``--show-plan``, can be given
or edited with ``--plan plan.json``, and the image is made from it (``generate_from_plan``). A plan with
more layers than the model's layer limit (``layerdiff models``; background included) is refused in one line
before anything is generated; ``--show-plan`` still prints it.
``--layer-prompt`` (one caption per layer) and ``--no-plan`` run the model on the whole caption instead.
"""

from __future__ import annotations

import argparse
import re

from layerdiff.cli.outputs import add_output_args, write_outputs


def register(sub: argparse._SubParsersAction) -> None:
    from layerdiff.registry import DEFAULT_MODEL, model_names

    p = sub.add_parser("generate", help="generate a layered image from text",
                       description="Generate RGBA layers from a text prompt and write them as PSD and PNG layers.")
    p.add_argument("prompt", nargs="?", default="", help="description of the image (optional with --plan)")
    p.add_argument("--model", default=DEFAULT_MODEL, choices=model_names(task="generate"))
    p.add_argument("--layers", default=None,
                   help="number of layers (background included) or 'auto'; with the planner the plan decides "
                        "(default without it: 3)")
    p.add_argument("--size", default=None, help="output size WxH (default: the model's native size)")
    p.add_argument("--box", action="append", default=None, metavar="X0,Y0,X1,Y1",
                   help="layout box of one layer (repeat once per layer; 'none' for a layer without box)")
    p.add_argument("--layer-prompt", action="append", default=None, metavar="TEXT",
                   help="caption of one layer, bottom to top (repeat once per layer; '' for a layer without one): "
                        "binds that description to that layer")
    p.add_argument("--show-plan", action="store_true",
                   help="print the layer plan of the caption as JSON and stop (save it, edit it, give it to --plan)")
    p.add_argument("--plan", default=None, metavar="PLAN.json",
                   help="generate from this layer plan (as --show-plan prints it) instead of planning the caption")
    p.add_argument("--no-plan", action="store_true",
                   help="no planner: the model draws all layers at once from the whole caption")
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

    if not args.prompt.strip() and not args.plan:
        raise LayerdiffError("the prompt is empty: describe the image, e.g. layerdiff generate 'a red circle on blue'")
    width = height = None
    if args.size:
        m = re.fullmatch(r"(\d+)[xX](\d+)", args.size.strip())
        if not m:
            raise LayerdiffError(f"--size {args.size!r}: expected WxH, e.g. 512x384")
        width, height = int(m.group(1)), int(m.group(2))
        if width < 1 or height < 1:
            raise LayerdiffError(f"--size {args.size!r}: width and height must be positive, e.g. 512x384")
    if args.plan and (args.layer_prompt or args.no_plan):
        raise LayerdiffError("--plan cannot be combined with --layer-prompt or --no-plan")
    layers = _layer_count(args.layers)
    boxes = [parse_box(b) for b in args.box] if args.box else None
    if not args.layer_prompt and not args.no_plan:
        return _run_plan(args, layers, boxes, width, height)
    if args.show_plan:
        raise LayerdiffError("--show-plan needs the planner: leave out --layer-prompt and --no-plan")
    pipe = LayerGeneratePipeline.from_pretrained(args.model)
    out = pipe(args.prompt, num_layers=3 if layers is None else layers, layer_prompts=args.layer_prompt, boxes=boxes,
               width=width, height=height,
               num_inference_steps=args.steps, guidance_scale=args.guidance,
               generator=torch.Generator().manual_seed(args.seed), output_type="np", refine=not args.no_refine,
               refine_passes=args.refine_passes)
    image = out.images[0]
    for path in write_outputs(image, args, "generated"):
        print(f"wrote {path}")
    return 0


def _layer_count(text: str | None) -> int | str | None:
    from layerdiff.errors import LayerdiffError

    if text is None or text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise LayerdiffError(f"--layers {text!r}: expected a number of layers or 'auto'") from None


def _run_plan(args: argparse.Namespace, layers: int | str | None, boxes: list | None, width: int | None,
              height: int | None) -> int:
    """The planner path: plan (or read) the layers, print the plan or generate from it."""
    import sys

    from layerdiff.errors import LayerdiffError
    from layerdiff.planning import load_plan, plan_caption
    from layerdiff.planning.plan import PlanError, check_box

    plan = load_plan(args.plan) if args.plan else plan_caption(args.prompt)
    if boxes is not None:
        if len(boxes) != plan.num_layers:
            raise LayerdiffError(f"got {len(boxes)} --box values for the plan's {plan.num_layers} layers "
                                 "(background included; 'none' keeps a layer's planned box)")
        for k, box in enumerate(boxes[1:]):
            if box is not None:
                if max(box) > 1 and width and height:
                    box = (box[0] / width, box[1] / height, box[2] / width, box[3] / height)
                try:
                    plan.layers[k].box = check_box(list(box), f"--box {k + 2}")
                except PlanError as err:
                    raise LayerdiffError(str(err)) from None
    if args.show_plan:
        print(plan.to_json())
        return 0
    if isinstance(layers, int) and layers != plan.num_layers:
        print(f"note: the plan has {plan.num_layers} layers (background included); --layers {layers} is ignored "
              "(give --layer-prompt per layer to set the count)", file=sys.stderr)
    from layerdiff.pipelines import LayerGeneratePipeline
    from layerdiff.planning import generate_from_plan

    pipe = LayerGeneratePipeline.from_pretrained(args.model)
    image = generate_from_plan(pipe, plan, width, height, seed=args.seed, num_inference_steps=args.steps,
                               guidance_scale=args.guidance, refine=not args.no_refine,
                               refine_passes=args.refine_passes)
    for path in write_outputs(image, args, "generated"):
        print(f"wrote {path}")
    return 0
