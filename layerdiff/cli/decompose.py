"""``layerdiff decompose IMAGE``: split an image (or a PSD's flattened image) into RGBA layers."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from layerdiff.cli.outputs import add_output_args, write_outputs


def register(sub: argparse._SubParsersAction) -> None:
    from layerdiff.registry import decomposer_names

    p = sub.add_parser("decompose", help="decompose an image into RGBA layers (PSD + PNG layers out)",
                       description="Decompose an image into RGBA layers and write them as PSD and PNG layers.")
    p.add_argument("image", help="input image (PNG, JPEG, WebP, TIFF, PSD, ORA)")
    p.add_argument("--model", default="layerdiff-tiny", choices=decomposer_names(),
                   help="decomposer from the registry (default: %(default)s)")
    p.add_argument("--layers", default="auto", help="number of layers, or 'auto' (default)")
    p.add_argument("--max-layers", type=int, default=None, help="upper bound for --layers auto")
    p.add_argument("--steps", type=int, default=None, help="sampling steps (diffusion models)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--prompt", default="", help="optional description of the image")
    p.add_argument("--method", default="auto", choices=("auto", "regions", "diffusion"),
                   help="layerdiff models: learned region layering (regions), sampling (diffusion), or auto: "
                        "regions when the model has a layerer and no prompt/steps are given (default)")
    add_output_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from layerdiff.io import load_composite
    from layerdiff.registry import get_preset, load_decomposer

    layers = args.layers if args.layers == "auto" else _positive_int(args.layers)
    image, source = load_composite(args.image)  # a PSD: its embedded composite, what Photoshop shows
    if source == "embedded composite":
        print(f"{args.image}: decomposing the file's embedded composite (as Photoshop shows it)", file=sys.stderr)
    t0 = time.perf_counter()
    preset = get_preset(args.model)
    kwargs = {}
    sampling = bool(args.prompt) or args.steps is not None
    if preset.kind == "layerdiff" and "layerer" in preset.components and (
            args.method == "regions" or (args.method == "auto" and not sampling)):
        # the region path needs only the layerer: NumPy, no torch / diffusers import (fast cold start)
        from layerdiff.regions.decomposer import RegionLayerDecomposer

        decomposer = RegionLayerDecomposer.from_pretrained(args.model)
    else:
        decomposer = load_decomposer(args.model)
        if preset.kind != "decomposer":  # diffusion models take sampling options
            kwargs["seed"] = args.seed
            kwargs["method"] = "diffusion" if args.method == "auto" else args.method
            if args.steps is not None:
                kwargs["num_inference_steps"] = args.steps
            if args.prompt:
                kwargs["prompt"] = args.prompt
    t1 = time.perf_counter()
    result = decomposer.decompose(image, num_layers=layers, max_layers=args.max_layers, **kwargs)
    t2 = time.perf_counter()
    written = write_outputs(result, args, Path(args.image).stem)
    print(f"{args.image}: {len(result)} layers in {t2 - t1:.2f} s (model load {t1 - t0:.2f} s)")
    for path in written:
        print(f"  wrote {path}")
    return 0


def _positive_int(text: str) -> int:
    from layerdiff.errors import LayerdiffError

    try:
        value = int(text)
    except ValueError:
        raise LayerdiffError(f"--layers must be a positive integer or 'auto', got {text!r}") from None
    if value < 1:
        raise LayerdiffError(f"--layers must be a positive integer or 'auto', got {text!r}")
    return value
