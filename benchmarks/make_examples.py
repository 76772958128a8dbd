"""Picture of decompositions of held-out synthetic designs, for MODEL_CARD.md.

    python benchmarks/make_examples.py --models layerdiff-tiny cluster-matting --count 3 \\
        --out docs/images/layerdiff-tiny-examples.png
    python benchmarks/make_examples.py --indices 4 28 16 --out docs/images/successes-failures.png

Each row: the input, then each model's layers bottom to top on grey (tiles of --tile px).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from PIL import Image


def tile(rgba: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 4) straight RGBA -> (size, size, 3) over mid grey."""
    rgb = rgba[..., :3] * rgba[..., 3:4] + 0.5 * (1 - rgba[..., 3:4])
    return np.asarray(Image.fromarray((rgb * 255).round().astype(np.uint8)).resize((size, size))) / 255.0


def main(argv: list[str] | None = None) -> int:
    from layerdiff.data.synthetic import SyntheticDesigns
    from layerdiff.eval.harness import as_input
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
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    engine = SyntheticDesigns(seed=args.seed, size=args.size, min_layers=2, max_layers=6)
    models = [load_decomposer(m) for m in args.models]
    for m in models:
        if hasattr(m, "set_progress_bar_config"):
            m.set_progress_bar_config(disable=True)
    rows = []
    for i in args.indices if args.indices else range(args.count):
        img = engine.sample(i).layers.composite()
        row = [tile(img, args.tile)]
        flat = as_input(img)  # the 8-bit image the evaluation decomposes
        for m in models:
            stack = m.decompose(flat).to_numpy()
            tiles = [tile(layer, args.tile) for layer in stack[: args.layers]]
            tiles += [np.full((args.tile, args.tile, 3), 0.5)] * (args.layers - len(tiles))
            row.append(np.full((args.tile, 4, 3), 1.0))
            row.extend(tiles)
        rows.append(np.concatenate(row, axis=1))
    Image.fromarray((np.concatenate(rows, axis=0) * 255).round().astype(np.uint8)).save(args.out, optimize=True)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
