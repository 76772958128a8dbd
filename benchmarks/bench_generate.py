"""Generation and editing, measured: named colours/shapes land in the named layer; edits stay local.

    python benchmarks/bench_generate.py --model layerdiff-tiny --count 50 --seed 777

The prompts are held-out synthetic designs (a seed the model never trained on). For every layer
whose caption names a vocabulary colour (``layerdiff.data.synth_vocab.COLORS``) the check is:

- **colour**: the alpha-weighted mean colour of the generated layer k is nearer (RGB distance) to the
  named colour than to any other vocabulary colour;
- **shape** (layers that name a shape): the generated layer's largest visible region is classified
  by its fill ratio within its bounding box and its aspect ratio (circle ~ 0.79, square/rectangle
  ~ 1, triangle ~ 0.5, star/ring/heart in between; see :func:`classify_shape`) and the class must
  match the named shape's class.

Editing: ``regenerate`` of one layer must leave every other layer bit-identical; ``insert`` with a
box must put the new layer's alpha mass inside the box (fraction reported).
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

SHAPE_CLASS = {"circle": "round", "ellipse": "round", "square": "box", "rectangle": "box",
               "rounded rectangle": "box", "triangle": "pointy", "star": "pointy", "heart": "round",
               "ring": "hollow"}


def classify_shape(alpha: np.ndarray) -> str | None:
    """'round', 'box', 'pointy' or 'hollow' from a layer's alpha (H, W); None if empty."""
    from scipy import ndimage

    mask = alpha > 0.5
    if not mask.any():
        return None
    labels, n = ndimage.label(mask)
    sizes = ndimage.sum(mask, labels, range(1, n + 1))
    region = labels == (1 + int(np.argmax(sizes)))
    ys, xs = np.nonzero(region)
    box_area = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
    fill = region.sum() / box_area
    filled = ndimage.binary_fill_holes(region)
    if filled.sum() > 1.3 * region.sum():
        return "hollow"
    if fill > 0.9:
        return "box"
    if fill > 0.66:
        return "round"
    return "pointy"


def main(argv: list[str] | None = None) -> int:
    import torch

    from layerdiff.data.synth_vocab import COLORS
    from layerdiff.data.synthetic import SyntheticDesigns
    from layerdiff.pipelines import LayerEditPipeline, LayerGeneratePipeline

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="layerdiff-tiny")
    p.add_argument("--count", type=int, default=50)
    p.add_argument("--seed", type=int, default=777)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--guidance", type=float, default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    gen = LayerGeneratePipeline.from_pretrained(args.model)
    gen.set_progress_bar_config(disable=True)
    size = gen.native_resolution
    engine = SyntheticDesigns(seed=args.seed, size=size, min_layers=2, max_layers=min(4, gen.max_layers))
    names = list(COLORS)
    palette = np.array([COLORS[n] for n in names], np.float32) / 255.0
    colour_hits = colour_total = shape_hits = shape_total = 0
    for i in range(args.count):
        s = engine.sample(i)
        out = gen(s.caption, num_layers=len(s.layers), num_inference_steps=args.steps,
                  guidance_scale=args.guidance, generator=torch.Generator().manual_seed(i), output_type="np")
        stack = out.layers[0]  # (L, H, W, 4)
        for k, (colour, shape) in enumerate(zip(s.colors, s.shapes)):
            if colour is None or colour not in COLORS or k >= len(stack):
                continue
            a = stack[k, ..., 3:4]
            weight = float(a.sum())
            colour_total += 1
            if weight > 1.0:
                mean = (stack[k, ..., :3] * a).sum((0, 1)) / weight
                nearest = names[int(np.argmin(((palette - mean) ** 2).sum(1)))]
                colour_hits += nearest == colour
            if shape in SHAPE_CLASS:
                shape_total += 1
                shape_hits += classify_shape(stack[k, ..., 3]) == SHAPE_CLASS[shape]

    edit = LayerEditPipeline(**gen.components, native_resolution=gen.native_resolution, max_layers=gen.max_layers)
    edit.set_progress_bar_config(disable=True)
    identical, inside = [], []
    for i in range(min(10, args.count)):
        s = engine.sample(1000 + i)
        layered = s.layers
        k = len(layered) - 1
        regen = edit(layered, layer=k, operation="regenerate", prompt=s.layer_captions[k], output_type="np",
                     num_inference_steps=args.steps, generator=torch.Generator().manual_seed(i)).images[0]
        identical.append(all(np.array_equal(regen[j].pixels, layered[j].pixels) for j in range(len(layered))
                             if j != k))
        box = (0.25, 0.25, 0.75, 0.75)
        ins = edit(layered, layer=-1, operation="insert", prompt="a red circle", box=box, output_type="np",
                   num_inference_steps=args.steps, generator=torch.Generator().manual_seed(i)).images[0]
        a = ins[-1].on_canvas(ins.size)[..., 3]
        h, w = a.shape
        mass = float(a.sum())
        in_box = float(a[int(0.25 * h) : int(0.75 * h), int(0.25 * w) : int(0.75 * w)].sum())
        inside.append(in_box / mass if mass > 0 else 0.0)
    result = {
        "model": args.model, "count": args.count, "seed": args.seed,
        "colour_rate": colour_hits / max(1, colour_total), "colour_n": colour_total,
        "shape_rate": shape_hits / max(1, shape_total), "shape_n": shape_total,
        "regenerate_others_bit_identical": float(np.mean(identical)),
        "insert_alpha_mass_inside_box": float(np.mean(inside)),
    }
    print("| model | colour in named layer | shape class in named layer | regenerate: others identical | "
          "insert: alpha inside box |")
    print("|---|---|---|---|---|")
    print(f"| {args.model} | {result['colour_rate']:.0%} (n={colour_total}) | {result['shape_rate']:.0%} "
          f"(n={shape_total}) | {result['regenerate_others_bit_identical']:.0%} | "
          f"{result['insert_alpha_mass_inside_box']:.0%} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
