"""``layerdiff extract IMAGE``: pull one object out of an image as an RGBA layer (plus the filled rest).

The object is named by any mix of ``--point`` (repeatable; ``--negative-point`` for pixels that are not
on it), ``--box``, ``--mask`` and ``--text``. Coordinates are pixels of the image (or fractions with
``--normalized``). To peel an image layer by layer, run ``extract`` again on the written background.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

from layerdiff.cli.outputs import add_output_args, write_outputs

if TYPE_CHECKING:
    from layerdiff.referring import ReferringPrompt


def register(sub: argparse._SubParsersAction) -> None:
    from layerdiff.cli.decompose import add_read_text_arg
    from layerdiff.registry import DEFAULT_MODEL, METHODS, model_names

    p = sub.add_parser("extract", help="extract one object (point, box, mask or phrase) as an RGBA layer",
                       description="Extract the object named by a point, a box, a mask or a phrase as an "
                                   "RGBA layer over the rest of the image (hole filled); writes PSD + PNG "
                                   "layers.")
    p.add_argument("image", help="input image (PNG, JPEG, WebP, TIFF, PSD, ORA; layered files are flattened)")
    p.add_argument("--point", action="append", default=[], metavar="X,Y", help="a pixel on the object "
                   "(repeatable)")
    p.add_argument("--negative-point", action="append", default=[], metavar="X,Y",
                   help="a pixel that is not on the object (repeatable)")
    p.add_argument("--box", default=None, metavar="X0,Y0,X1,Y1", help="a box around the object")
    p.add_argument("--mask", default=None, metavar="FILE",
                   help="an image marking the object (white or opaque)")
    p.add_argument("--text", default="", help="a phrase naming the object")
    p.add_argument("--normalized", action="store_true", help="points and box are fractions of the image")
    p.add_argument("--model", default=DEFAULT_MODEL, choices=model_names(task="extract"),
                   help="extractor from the registry: a layerdiff model or a non-learned baseline "
                        "(default: %(default)s)")
    p.add_argument("--method", default="auto", choices=("auto", *METHODS),
                   help="which of the model's implementations extracts: auto (the model's first, for "
                        "layerdiff-tiny the learned region layering), regions, diffusion (sampling) or baseline")
    p.add_argument("--steps", type=int, default=None, help="sampling steps (diffusion methods only)")
    add_read_text_arg(p)
    p.add_argument("--seed", type=int, default=0)
    add_output_args(p)
    p.set_defaults(func=run)


def parse_numbers(text: str, count: int, what: str) -> tuple[float, ...]:
    """``"x,y"`` / ``"x0 y0 x1 y1"`` -> ``count`` floats; else a :class:`LayerdiffError` naming the option."""
    from layerdiff.errors import LayerdiffError

    parts = [v for v in re.split(r"[,\s]+", text.strip()) if v]
    try:
        values = tuple(float(v) for v in parts)
    except ValueError:
        values = ()
    if len(values) != count:
        raise LayerdiffError(f"{what} {text!r}: expected {count} comma-separated numbers")
    return values


def build_prompt(args: argparse.Namespace) -> ReferringPrompt:
    """The :class:`~layerdiff.referring.ReferringPrompt` of the command line."""
    from layerdiff.errors import LayerdiffError
    from layerdiff.referring import ReferringPrompt

    points = [(*parse_numbers(t, 2, "--point"), 1) for t in args.point]
    points += [(*parse_numbers(t, 2, "--negative-point"), 0) for t in args.negative_point]
    box = parse_numbers(args.box, 4, "--box") if args.box else None
    mask = None
    if args.mask:
        from layerdiff.io.images import read_image_rgba

        mask = read_image_rgba(args.mask)  # (H, W, 4); the prompt uses its alpha, or its grey level
    if not (points or box or mask is not None or args.text.strip()):
        raise LayerdiffError("give the object with --point, --box, --mask or --text")
    try:
        return ReferringPrompt(points=points, box=box, mask=mask, text=args.text, normalized=args.normalized)
    except ValueError as err:
        raise LayerdiffError(str(err)) from None


def run(args: argparse.Namespace) -> int:
    from layerdiff.cli.decompose import method_hint, sampling_options
    from layerdiff.contract import keep_bit_depth
    from layerdiff.io import load
    from layerdiff.loader import load as load_model
    from layerdiff.loader import resolve
    from layerdiff.referring import PromptError

    prompt = build_prompt(args)  # bad points, boxes and masks fail before anything heavy is imported
    preset, _ = resolve(args.model)
    method, _ = preset.implementation("extract", args.method)
    layered = load(args.image)
    image, depth = layered.composite(), layered.bit_depth  # (H, W, 4)
    del layered
    try:
        prompt.in_pixels((image.shape[1], image.shape[0]))  # prompts outside the image fail before the model
    except PromptError as err:
        raise PromptError(f"{args.image}: {err}") from None
    t0 = time.perf_counter()
    extractor = load_model(args.model, "extract", method=args.method)
    t1 = time.perf_counter()
    with method_hint(preset, "extract", method):
        result = extractor.extract(image, prompt, seed=args.seed, **sampling_options(args))
        result = keep_bit_depth(result, image, depth)  # a 16-bit input gives 16-bit layers
    t2 = time.perf_counter()
    obj = result.layers[-1]
    box = obj.content_bbox(threshold=0.5)
    where = "empty (nothing found)" if box is None else f"box {box}"
    print(f"{args.image}: extracted {obj.name!r}: {where}, in {t2 - t1:.2f} s (model load {t1 - t0:.2f} s)")
    for path in write_outputs(result, args, Path(args.image).stem + "_extract"):
        print(f"  wrote {path}")
    return 0
