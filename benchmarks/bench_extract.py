"""Referring extraction quality on held-out synthetic designs, per prompt type and extractor.

    python benchmarks/bench_extract.py          # floodfill, and the default model if its weights are here
    python benchmarks/bench_extract.py --models floodfill tiny-random --count 40 --types point box

Designs come from ``SyntheticDesigns(seed=--seed)`` (a seed training does not use; 2-6 layers). For each
design and prompt type, :func:`layerdiff.data.synthetic.referring_sample` picks a foreground layer and
its prompt (a point where it is visible, its box, its visible mask, or its caption). Every extractor
gets the same prompt; its object layer is compared with the ground-truth layer (amodal: the whole
layer, hidden parts included):

- soft IoU of alphas, ``sum min(a_p, a_g) / sum max(a_p, a_g)``;
- RGB L1 where the ground truth is present, ``sum M |p - g|_mean / sum M`` with ``M = [a_g > 0]``
  (the pair cost terms of the LayerD metric, see docs ANCHORS.md);
- background L1 in the hole: the mean RGB error of the returned background against the composite of all
  other layers, where the target's alpha exceeds 0.5 (how well the hole was filled);
- the largest 8-bit recomposition error and the seconds per extraction.

Prints a markdown table; ``--json`` writes the per-sample rows.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

PROMPT_TYPES = ("point", "box", "mask", "phrase")


def default_models() -> list[str]:
    """floodfill, plus the default model when its trained weights are on this machine."""
    from layerdiff.registry import DEFAULT_MODEL, get_preset

    models = ["floodfill"]
    path = get_preset(DEFAULT_MODEL).weights_path()
    if isinstance(path, Path) and path.is_dir() and (path / "model_index.json").is_file():
        models.append(DEFAULT_MODEL)
    return models


def make_prompt(example: dict):
    """The :class:`ReferringPrompt` of a :func:`referring_sample` example."""
    from layerdiff.referring import ReferringPrompt

    kind, value = example["prompt_type"], example["prompt"]
    if kind == "point":
        return ReferringPrompt(points=[value], normalized=True)
    if kind == "box":
        return ReferringPrompt(box=value, normalized=True)
    if kind == "mask":
        return ReferringPrompt(mask=value)
    return ReferringPrompt(text=value)


def score(result, example: dict) -> dict:
    """Metrics of one extraction (result = [background, object]) against the example's ground truth."""
    from layerdiff.layered import LayeredImage, from_float

    stack = result.to_numpy()  # (2, H, W, 4)
    pred, target = stack[-1], example["target"]
    a_p, a_g = pred[..., 3], target[..., 3]
    iou = float(np.minimum(a_p, a_g).sum() / max(float(np.maximum(a_p, a_g).sum()), 1e-8))
    present = a_g > 0
    l1 = float(np.abs(pred[..., :3] - target[..., :3]).mean(-1)[present].sum() / max(present.sum(), 1))
    hole = a_g > 0.5
    bg_err = np.abs(stack[0][..., :3] - example["background"][..., :3]).mean(-1)
    bg_l1 = float(bg_err[hole].mean()) if hole.any() else float("nan")
    comp = LayeredImage.from_numpy(from_float(stack, 8)).composite()
    recompose = int(np.abs(from_float(comp, 8)[..., :3].astype(int)
                           - from_float(example["image"][..., :3], 8).astype(int)).max())
    return {"soft_iou": iou, "rgb_l1": l1, "bg_l1_hole": bg_l1, "recompose_err": recompose}


def run(models: list[str], seed: int, count: int, size: int, types: list[str], steps: int | None,
        start: int = 0) -> list[dict]:
    from layerdiff.data.synthetic import SyntheticDesigns, referring_sample
    from layerdiff.loader import load

    designs = SyntheticDesigns(seed=seed, size=size, min_layers=2, max_layers=6)
    extractors = {name: load(name, "extract") for name in models}
    rows = []
    for index in range(start, start + count):
        sample = designs.sample(index)
        for t, kind in enumerate(types):
            try:
                example = referring_sample(sample, np.random.default_rng([seed, index, t]), kind)
            except ValueError:  # every foreground layer hidden: nothing to refer to
                continue
            try:
                prompt = make_prompt(example)
            except ValueError:  # a faint target: its visible mask is empty
                continue
            for name, extractor in extractors.items():
                kwargs = {"steps": steps} if steps is not None and "steps" in extractor.options else {}
                t0 = time.perf_counter()
                result = extractor.extract(example["image"], prompt, seed=0, **kwargs)
                seconds = time.perf_counter() - t0
                rows.append({"model": name, "prompt_type": kind, "index": index, "kind": example["kind"],
                             "occluded": example["occluded"], "seconds": seconds, **score(result, example)})
    return rows


def table(rows: list[dict], models: list[str], types: list[str]) -> str:
    lines = ["| model | prompt | n | soft IoU | RGB L1 | bg L1 (hole) | max recompose err (/255) "
             "| s / extract |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for model in models:
        for kind in [*types, "all"]:
            sel = [r for r in rows if r["model"] == model and (kind == "all" or r["prompt_type"] == kind)]
            if not sel:
                continue
            bg = [r["bg_l1_hole"] for r in sel if not np.isnan(r["bg_l1_hole"])]
            lines.append(
                f"| {model} | {kind} | {len(sel)} | {np.mean([r['soft_iou'] for r in sel]):.4f} | "
                f"{np.mean([r['rgb_l1'] for r in sel]):.4f} | {np.mean(bg) if bg else float('nan'):.4f} | "
                f"{max(r['recompose_err'] for r in sel)} | {np.median([r['seconds'] for r in sel]):.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=None,
                   help="extractors: 'floodfill' and/or layerdiff registry names or pipeline folders "
                        "(default: floodfill, and layerdiff-tiny if its weights exist)")
    p.add_argument("--seed", type=int, default=20251, help="held-out design stream (training uses others)")
    p.add_argument("--count", type=int, default=100, help="designs (each gives one example per prompt type)")
    p.add_argument("--start", type=int, default=0, help="first design index")
    p.add_argument("--size", type=int, default=128, help="design side in pixels")
    p.add_argument("--types", nargs="+", default=list(PROMPT_TYPES), choices=PROMPT_TYPES)
    p.add_argument("--steps", type=int, default=None, help="sampling steps of diffusion models")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None, help="write the per-example rows here")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    models = args.models or default_models()
    rows = run(models, args.seed, args.count, args.size, args.types, args.steps, args.start)
    print(f"Referring extraction on SyntheticDesigns(seed={args.seed}, size={args.size}), designs "
          f"{args.start}..{args.start + args.count - 1}; ground truth amodal.\n")
    print(table(rows, models, args.types))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
