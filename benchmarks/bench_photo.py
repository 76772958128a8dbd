"""Photographs in designs: is each photo one layer, and what does removing a layer over it uncover?
(issue 28 items 2d and 3)

    python benchmarks/bench_photo.py --designs 24 --seed 2718 --json photo.json

The scenes (:func:`photo_scene`) are drawn with the synthetic engine's own parts
(:mod:`layerdiff.data.synth_backgrounds`, :mod:`layerdiff.data.synth_elements`), every choice from
``numpy.random.default_rng([seed, index])``: even indices have a full-canvas photo background (a
``skimage.data`` photograph) under 1-3 flat elements (shapes, text lines); odd indices have a solid or
gradient background with one framed photo (rectangle, rounded rectangle or disc, 35-60 % of the
canvas side) and 1-3 flat elements, at least one of them placed over the photo. The true layer count
is passed to the decomposer. Per design:

- the LayerD metric at budget 0 (:func:`layerdiff.eval.metric.evaluate_pair`: RGB L1@0, soft IoU@0);
- ``photo_iou``: the soft IoU of the photo's true layer with the predicted layer that best matches it
  (the photo kept whole scores near 1, a photo cut into fragments far less);
- ``photo_pieces``: the predicted layers on top (alpha > 0.5) on at least 5 % of the pixels where the
  photo is on top in the truth (1: the photo whole in one layer);
- the occluded-region scores (:func:`layerdiff.eval.occlusion.occlusion_scores`) and ``photo_hidden_l1``,
  the RGB L1 of the best-matching predicted layer on the photo's hidden pixels.

``--model`` names the registry preset measured (its region decomposer, as ``layerdiff decompose`` runs it);
``--photos`` measures it twice in one run, with the photo step (:mod:`layerdiff.regions.photo`) off (named
after the preset) and on (``+photos``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

SCENE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "grass", "gravel", "brick", "coins",
                "moon", "hubble_deep_field", "immunohistochemistry")
"""``skimage.data`` photographs the scenes draw from (the synthetic engine's list without the colour wheel,
a smooth gradient rather than a photograph)."""


def photo_scene(seed: int, index: int, size: int = 512) -> tuple[np.ndarray, int]:
    """One photo scene: its true layers (L, size, size, 4) float32 straight alpha, bottom to top, and the
    index of the photo's layer (0: the photo is the background). See the module docstring."""
    from layerdiff.data.synth_backgrounds import render_background, sample_background, sample_photo_crop
    from layerdiff.data.synth_elements import render_element, sample_photo, sample_shape, sample_text

    rng = np.random.default_rng([seed, index])
    name = SCENE_PHOTOS[int(rng.integers(len(SCENE_PHOTOS)))]
    as_background = index % 2 == 0
    if as_background:
        background = {"type": "photo", "photo": name, "crop": sample_photo_crop(rng, name), "color": None,
                      "rgb": [np.zeros(3, np.float32), np.ones(3, np.float32)], "caption": "a photo"}
    else:
        background = sample_background(rng, photos=False)
        while background["type"] not in ("solid", "linear", "radial"):
            background = sample_background(rng, photos=False)
    layers = [render_background(background, size)]
    photo_layer = 0
    box = (0.0, 0.0, 1.0, 1.0)
    if not as_background:
        spec = sample_photo(rng)
        spec["photo"] = name
        w = float(rng.uniform(0.35, 0.6))
        h = w if spec["frame"] == "circle" else min(w * float(rng.uniform(0.7, 1.3)), 0.8)
        spec["size"] = (w, h)
        spec["crop"] = sample_photo_crop(rng, name, aspect=w / h)
        cx, cy = float(rng.uniform(w / 2 + 0.03, 1 - w / 2 - 0.03)), float(rng.uniform(h / 2 + 0.03, 1 - h / 2 - 0.03))
        spec["center"] = (cx, cy)
        layers.append(render_element(spec, size, None))
        photo_layer = 1
        box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    for k in range(int(rng.integers(1, 4))):
        if rng.random() < 0.5:
            spec = sample_text(rng, min_px=14.0 / size, behind=None)
        else:
            spec = sample_shape(rng)
            spec["size"] = tuple(min(s, 0.3) for s in spec["size"])
        w, h = spec["size"]
        over = k == 0 or rng.random() < 0.5  # the first element lies over the photo
        lo_x, hi_x = (box[0], box[2]) if over else (0.0, 1.0)
        lo_y, hi_y = (box[1], box[3]) if over else (0.0, 1.0)
        cx = float(np.clip(rng.uniform(lo_x + w / 2, max(hi_x - w / 2, lo_x + w / 2)), w / 2 + 0.02, 0.98 - w / 2))
        cy = float(np.clip(rng.uniform(lo_y + h / 2, max(hi_y - h / 2, lo_y + h / 2)), h / 2 + 0.02, 0.98 - h / 2))
        spec["center"] = (cx, cy)
        layers.append(render_element(spec, size, None))
    return np.stack(layers).astype(np.float32), photo_layer


def photo_scores(pred: np.ndarray, gt: np.ndarray, photo: int) -> dict[str, Any]:
    """Scores of a predicted stack (K, H, W, 4) against a scene's true layers (L, H, W, 4) with the photo at
    layer ``photo``: the LayerD metric at budget 0, the photo's soft IoU with its best-matching predicted
    layer, the number of predicted layers on top on 5 % of the pixels where it is on top, and the
    occluded-region scores (overall and on the photo's hidden pixels)."""
    from layerdiff.eval.metric import evaluate_pair
    from layerdiff.eval.occlusion import hidden_masks, occlusion_scores

    metric = evaluate_pair(pred, gt, max_edits=0)
    seen = _topmost(gt) == photo  # (H, W) where the photo is the topmost opaque layer of the input
    shown = _topmost(pred)[seen]  # (m,) the predicted layer on top there
    share = np.bincount(shown, minlength=len(pred)) / max(int(seen.sum()), 1)  # (K,)
    a_true = gt[photo, ..., 3]  # (H, W)
    ious = np.minimum(pred[..., 3], a_true).sum((1, 2)) / np.maximum(pred[..., 3], a_true).sum((1, 2)).clip(1e-9)
    best = int(np.argmax(ious))
    hidden, _ = hidden_masks(gt)
    row: dict[str, Any] = {"l1": float(metric["l1"][0]), "iou": float(metric["iou"][0]),
                           "photo_iou": float(ious[best]), "photo_pieces": int((share >= 0.05).sum()),
                           "layers": len(pred), "occlusion": occlusion_scores(pred, gt)}
    if hidden[photo].any():
        diff = np.abs(pred[best, ..., :3] - gt[photo, ..., :3]).mean(-1)  # (H, W)
        row["photo_hidden_l1"] = float(diff[hidden[photo]].mean())
    return row


def _topmost(stack: np.ndarray) -> np.ndarray:
    """(H, W) index of the topmost layer of ``stack`` (L, H, W, 4) with alpha above 0.5 (0 where none)."""
    top = np.zeros(stack.shape[1:3], np.int64)
    for k in range(1, len(stack)):
        top[stack[k, ..., 3] > 0.5] = k
    return top


def _mean(rows: list[dict[str, Any]], key: str) -> float:
    vals = [r[key] for r in rows if key in r]
    return float(np.mean(vals)) if vals else float("nan")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from layerdiff.registry import DEFAULT_MODEL

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--designs", type=int, default=24)
    p.add_argument("--seed", type=int, default=2718)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--save", type=Path, default=None, help="write each design's layers as PNGs under this folder")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--photos", action="store_true", help="also run the decomposer with the photo step on")
    args = p.parse_args(argv)

    from layerdiff.eval.occlusion import summarize_occlusion
    from layerdiff.regions.decomposer import RegionLayerDecomposer

    runs = {args.model: RegionLayerDecomposer.from_pretrained(args.model)}
    if args.photos:
        runs[args.model].photos = False
        with_photos = RegionLayerDecomposer.from_pretrained(args.model)
        with_photos.photos = True
        runs[f"{args.model}+photos"] = with_photos
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; seed {args.seed}, {args.designs} photo scenes, "
          f"{args.size} px, true count")
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in runs}
    for i in range(args.designs):
        gt, photo = photo_scene(args.seed, i, args.size)
        image = np.round(_composite(gt) * 255.0).astype(np.uint8)  # (H, W, 4) the 8-bit input
        for name, dec in runs.items():
            t = time.process_time()
            pred = dec.decompose_stack(image[..., :3], len(gt))  # (K, H, W, 4)
            seconds = time.process_time() - t
            row = {"index": i, "photo_layer": photo, "seconds": seconds, **photo_scores(pred, gt, photo)}
            rows[name].append(row)
            if args.save is not None:
                _save(args.save / name / f"{i:02d}", image, pred)
        print(f"  scene {i} ({'background' if photo == 0 else 'placed'} photo) done", flush=True)
    summary: dict[str, Any] = {}
    print("\n| run | scenes | L1@0 | IoU@0 | photo IoU | photo pieces | photo hidden L1 | occluded L1 | ghost rate "
          "| s/design |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, rs in rows.items():
        for part, sel in (("all", rs), ("background", [r for r in rs if r["photo_layer"] == 0]),
                          ("placed", [r for r in rs if r["photo_layer"] > 0])):
            if not sel:
                continue
            occ = summarize_occlusion(r["occlusion"] for r in sel)
            s = {k: _mean(sel, k) for k in ("l1", "iou", "photo_iou", "photo_pieces", "photo_hidden_l1", "seconds")}
            s.update(occluded_l1=occ["occluded_l1"], ghost_rate=occ["ghost_rate"], scenes=len(sel))
            summary[f"{name}/{part}"] = s
            print(f"| {name} {part} | {len(sel)} | {s['l1']:.4f} | {s['iou']:.4f} | {s['photo_iou']:.3f} "
                  f"| {s['photo_pieces']:.2f} | {s['photo_hidden_l1']:.4f} | {s['occluded_l1']:.4f} "
                  f"| {s['ghost_rate']:.3f} | {s['seconds']:.2f} |")
    if args.json is not None:
        args.json.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1, default=float))
    return summary


def _composite(stack: np.ndarray) -> np.ndarray:
    from layerdiff.data.synth_raster import composite_stack

    return composite_stack(stack)  # (H, W, 4)


def _save(folder: Path, image: np.ndarray, pred: np.ndarray) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(folder / "input.png")
    for k, layer in enumerate(pred):
        Image.fromarray(np.round(np.clip(layer, 0, 1) * 255).astype(np.uint8)).save(folder / f"layer{k}.png")


if __name__ == "__main__":
    main()
