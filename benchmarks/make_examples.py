"""Picture of decompositions of held-out synthetic designs or of ground-truth files, for MODEL_CARD.md.

    python benchmarks/make_examples.py --models layerdiff-tiny cluster-matting --count 3 \\
        --out docs/images/layerdiff-tiny-examples.png
    python benchmarks/make_examples.py --indices 4 28 16 --out docs/images/successes-failures.png
    python benchmarks/make_examples.py --files ../shared/data/psd-corpus/adjustments__exposure_rgb.psd \\
        --out docs/images/psd-examples.png

Each row: the input, then each model's layers bottom to top on grey (tiles of --tile px). With
``--files`` (PSD, ORA or PNG folders, read as ``layerdiff eval`` reads them) the file's own visible
non-empty layers come first, then the models'.
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
    from layerdiff.atomic import atomic_path
    from layerdiff.data.synthetic import SyntheticDesigns
    from layerdiff.errors import LayerdiffError
    from layerdiff.eval.harness import as_input
    from layerdiff.io import load
    from layerdiff.registry import load_decomposer

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["layerdiff-tiny", "cluster-matting"])
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
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    models = [load_decomposer(m) for m in args.models]
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
            tiles = [tile(layer, args.tile) for layer in stack[: args.layers]]
            tiles += [np.full((args.tile, args.tile, 3), 0.5)] * (args.layers - len(tiles))
            row.append(np.full((args.tile, 4, 3), 1.0))
            row.extend(tiles)
        rows.append(np.concatenate(row, axis=1))
    picture = Image.fromarray((np.concatenate(rows, axis=0) * 255).round().astype(np.uint8))
    with atomic_path(args.out, suffix=Path(args.out).suffix) as tmp:  # never a half-written picture
        picture.save(tmp, optimize=True)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
