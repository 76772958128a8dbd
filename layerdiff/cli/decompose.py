"""``layerdiff decompose IMAGE``: split an image (or a PSD's flattened image) into RGBA layers."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from layerdiff.cli.outputs import add_output_args, write_outputs

if TYPE_CHECKING:
    from layerdiff.registry import ModelPreset


def register(sub: argparse._SubParsersAction) -> None:
    from layerdiff.registry import DEFAULT_MODEL, METHODS, decomposer_names

    p = sub.add_parser("decompose", help="decompose an image into RGBA layers (PSD + PNG layers out)",
                       description="Decompose an image into RGBA layers and write them as PSD and PNG layers.")
    p.add_argument("image", help="input image (PNG, JPEG, WebP, TIFF, PSD, ORA)")
    p.add_argument("--model", default=DEFAULT_MODEL, choices=decomposer_names(),
                   help="decomposer from the registry (default: %(default)s)")
    p.add_argument("--layers", default="auto", help="number of layers, or 'auto' (default)")
    p.add_argument("--max-layers", type=int, default=None, help="upper bound for --layers auto")
    p.add_argument("--steps", type=int, default=None, help="sampling steps (diffusion methods only)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--prompt", default=None, help="optional description of the image (diffusion methods only)")
    add_read_text_arg(p)
    p.add_argument("--method", default="auto", choices=("auto", *METHODS),
                   help="which of the model's implementations decomposes: auto (the model's first, for "
                        "layerdiff-tiny the learned region layering), regions, diffusion (sampling) or baseline")
    add_output_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from layerdiff.contract import check_num_layers, keep_bit_depth
    from layerdiff.io import load_composite_with_depth
    from layerdiff.loader import load, resolve

    layers = args.layers if args.layers == "auto" else parse_layers(args.layers)
    preset, _ = resolve(args.model)
    method, _ = preset.implementation("decompose", args.method)  # a method the model lacks fails now
    if method == "regions" or (method == "diffusion" and not getattr(args, "no_read_text", False)):
        from layerdiff.text.ocr import start_engine

        start_engine()  # the text detector loads beside the image decoding, the imports and the model
    check_num_layers(layers, args.max_layers, preset.max_layers, preset.name)  # the model's one limit
    image, source, depth = load_composite_with_depth(args.image)  # a PSD: its embedded composite, as shown
    if source == "embedded composite":
        print(f"{args.image}: decomposing the file's embedded composite (as Photoshop shows it)", file=sys.stderr)
    t0 = time.perf_counter()
    decomposer = load(args.model, "decompose", method=args.method)
    t1 = time.perf_counter()
    with method_hint(preset, "decompose", method):
        result = decomposer.decompose(image, num_layers=layers, max_layers=args.max_layers, seed=args.seed,
                                      **sampling_options(args))
        result = keep_bit_depth(result, image, depth)  # a 16-bit input gives 16-bit layers
    t2 = time.perf_counter()
    written = write_outputs(result, args, Path(args.image).stem)
    print(f"{args.image}: {len(result)} layers in {t2 - t1:.2f} s (model load {t1 - t0:.2f} s)")
    for path in written:
        print(f"  wrote {path}")
    return 0


def sampling_options(args: argparse.Namespace) -> dict[str, object]:
    """The contract options of the command line that were given (``steps``, ``prompt``, ``read_text`` when
    ``--no-read-text``): an implementation that cannot honour one refuses it in one line (see
    :func:`layerdiff.contract.check_options`)."""
    options = {"steps": args.steps, "prompt": getattr(args, "prompt", None),
               "read_text": False if getattr(args, "no_read_text", False) else None}
    return {k: v for k, v in options.items() if v not in (None, "")}


def add_read_text_arg(p: argparse.ArgumentParser) -> None:
    """``--no-read-text``: text layers stay plain pixels (no wording, font, size or colour read)."""
    p.add_argument("--no-read-text", action="store_true",
                   help="do not read the text layers' wording, font, size and colour (region method; read by "
                        "default when the text extra is installed)")


@contextmanager
def method_hint(preset: ModelPreset, task: str, method: str) -> Iterator[None]:
    """Refused options (:class:`~layerdiff.contract.OptionError`) name the model's other methods."""
    from layerdiff.contract import OptionError

    try:
        yield
    except OptionError as err:
        others = [m for m in preset.tasks[task] if m != method]
        if not others:
            raise
        raise OptionError(f"{err}; --method {' or '.join(others)} may take it") from None


def parse_layers(text: str) -> int:
    """``--layers`` as a positive integer; else a one-line :class:`LayerdiffError`."""
    from layerdiff.errors import LayerdiffError

    try:
        value = int(text)
    except ValueError:
        raise LayerdiffError(f"--layers must be a positive integer or 'auto', got {text!r}") from None
    if value < 1:
        raise LayerdiffError(f"--layers must be a positive integer or 'auto', got {text!r}")
    return value
