"""Picture of decompositions of held-out synthetic designs or of ground-truth files, for MODEL_CARD.md.

    python benchmarks/make_examples.py --models layerdiff-tiny cluster-matting --count 3 \\
        --out docs/images/layerdiff-tiny-examples.png
    python benchmarks/make_examples.py --indices 4 28 16 --out docs/images/successes-failures.png
    python benchmarks/make_examples.py --files ../shared/data/psd-corpus/adjustments__exposure_rgb.psd \\
        --out docs/images/psd-examples.png
    python benchmarks/make_examples.py --generate layerdiff-tiny --seed 777 --count 6 --layers 4 \\
        --out docs/images/layerdiff-tiny-generation.png

Each row: the input, then each model's layers bottom to top on grey (tiles of --tile px). With
``--files`` (PSD, ORA or PNG folders, read as ``layerdiff eval`` reads them) the file's own visible
non-empty layers come first, then the models'. With ``--generate MODEL`` each row is a held-out
synthetic design (2-4 layers at the model's native size): its composite and true layers, then the
composite and layers MODEL generates from the design's caption and one caption per layer (seeded by
the design index, the model's default steps and guidance); the captions are printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def tile(rgba: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 4) straight RGBA -> (size, size, 3) over mid grey."""
    rgb = rgba[..., :3] * rgba[..., 3:4] + 0.5 * (1 - rgba[..., 3:4])
    return np.asarray(Image.fromarray((rgb * 255).round().astype(np.uint8)).resize((size, size))) / 255.0


def main(argv: list[str] | None = None) -> int:
    from layerdiff.data.synthetic import SyntheticDesigns
    from layerdiff.errors import LayerdiffError
    from layerdiff.eval.harness import as_input
    from layerdiff.io import load
    from layerdiff.loader import load as load_model
    from layerdiff.registry import DEFAULT_MODEL

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=[DEFAULT_MODEL, "cluster-matting"])
    p.add_argument("--count", type=int, default=3)
    p.add_argument("--seed", type=int, default=31337)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--tile", type=int, default=128)
    p.add_argument("--layers", type=int, default=6, help="layer tiles per model (missing ones stay grey)")
    p.add_argument("--indices", type=int, nargs="+", default=None,
                   help="design indices to show (default: the first --count); pick them from an eval's results.csv "
                        "to show typical successes and failures")
    p.add_argument("--files", nargs="+", default=None,
                   help="ground-truth stacks to show instead of synthetic designs (their layers first)")
    p.add_argument("--generate", default=None, metavar="MODEL",
                   help="show what MODEL generates from held-out captions instead of decompositions")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    if args.generate:
        rows = generation_rows(args)
        save_picture(rows, args.out)
        return 0
    models = [load_model(m, "decompose") for m in args.models]
    for m in models:
        if hasattr(m, "set_progress_bar_config"):
            m.set_progress_bar_config(disable=True)
    if args.files:
        shown = []
        for f in args.files:
            try:
                truth = load(f)
            except (LayerdiffError, OSError, ValueError) as err:
                message = str(err) if str(f) in str(err) else f"{f}: {err}"
                raise SystemExit(message) from None  # one line naming the file, no traceback
            stack = truth.to_numpy(include_hidden=False)  # (L, H, W, 4)
            shown.append((truth.composite(), np.stack([layer for layer in stack if (layer[..., 3] > 0).any()])))
    else:
        engine = SyntheticDesigns(seed=args.seed, size=args.size, min_layers=2, max_layers=6)
        shown = [(engine.sample(i).layers.composite(), None)
                 for i in (args.indices if args.indices else range(args.count))]
    rows = []
    for img, truth in shown:
        row = [tile(img, args.tile)]
        flat = as_input(img)  # the 8-bit image the evaluation decomposes
        stacks = [truth] if truth is not None else []
        stacks += [m.decompose(flat).to_numpy() for m in models]
        for stack in stacks:
            row.extend(stack_tiles(stack, args.layers, args.tile))
        rows.append(np.concatenate(row, axis=1))
    save_picture(rows, args.out)
    return 0


def stack_tiles(stack: np.ndarray, layers: int, size: int) -> list[np.ndarray]:
    """A white separator, then the first ``layers`` layers of (L, H, W, 4) as tiles, grey where missing."""
    tiles = [tile(layer, size) for layer in stack[:layers]]
    tiles += [np.full((size, size, 3), 0.5)] * (layers - len(tiles))
    return [np.full((size, 4, 3), 1.0), *tiles]


def generation_rows(args) -> list[np.ndarray]:
    """Rows of [true composite, true layers | generated composite, generated layers] for held-out captions."""
    import torch

    from layerdiff.data.synthetic import SyntheticDesigns
    from layerdiff.layered import LayeredImage
    from layerdiff.pipelines import LayerGeneratePipeline

    gen = LayerGeneratePipeline.from_pretrained(args.generate)
    gen.set_progress_bar_config(disable=True)
    engine = SyntheticDesigns(seed=args.seed, size=gen.native_resolution, min_layers=2, max_layers=4)
    rows = []
    for i in args.indices if args.indices else range(args.count):
        design = engine.sample(i)
        truth = design.layers.to_numpy()  # (L, H, W, 4)
        made = gen(design.caption, num_layers=len(truth), layer_prompts=list(design.layer_captions),
                   generator=torch.Generator().manual_seed(i), output_type="np").layers[0]  # (L, H, W, 4)
        print(f"{i}: {design.caption} | layers: {' / '.join(design.layer_captions)}")
        row = [tile(design.layers.composite(), args.tile), *stack_tiles(truth, args.layers, args.tile)]
        row += [np.full((args.tile, 12, 3), 1.0), tile(LayeredImage.from_numpy(made).composite(), args.tile)]
        row += stack_tiles(made, args.layers, args.tile)
        rows.append(np.concatenate(row, axis=1))
    return rows


def save_picture(rows: list[np.ndarray], out: str) -> None:
    """Stack the rows and write the PNG atomically (never a half-written picture)."""
    from layerdiff.atomic import atomic_path

    picture = Image.fromarray((np.concatenate(rows, axis=0) * 255).round().astype(np.uint8))
    with atomic_path(out, suffix=Path(out).suffix) as tmp:
        picture.save(tmp, optimize=True)
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
