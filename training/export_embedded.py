"""Export a trained pipeline folder as the embedded weights of a registry preset (half precision).

    python -m training.export_embedded runs/tf/final --preset layerdiff-tiny [--dtype float16] \
        [--layerer runs/layerer/final/layerer] [--refiner runs/refiner/final/refiner]

Writes ``layerdiff/weights/<folder>/`` (the preset's ``embedded:`` location): the pipeline as
``save_pretrained`` writes it (model_index.json, the settings, per component config + safetensors) and
the region layerer in ``layerer/`` (``--layerer``, trained by train_layerer.py; without it the folder's
current one is kept). ``--refiner`` sets a layer refiner trained by train_refiner.py. Before writing, it
decomposes a few held-out synthetic designs with the float32 and the half-precision weights (diffusion
and regions), and refines their layers with the float32 and the half-precision refiner, and refuses the
export if the layers differ by more than ``--max-diff`` (mean absolute difference), so half precision is
used only where it holds quality. It also refuses a folder trained for another grid than the preset's
(``native_resolution``: train_transformer.py records its ``--size``), since the registry would run that
model at the preset's resolution.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
import torch


def main(argv: list[str] | None = None) -> int:
    from layerdiff.atomic import atomic_dir
    from layerdiff.data.synthetic import SyntheticDesigns
    from layerdiff.models import LayerRefiner, RegionLayerer
    from layerdiff.models.weights import load_component
    from layerdiff.pipelines import LayerDecomposePipeline
    from layerdiff.regions.decomposer import RegionLayerDecomposer
    from layerdiff.registry import DEFAULT_MODEL, get_preset

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", help="pipeline folder written by train_transformer.py (…/final)")
    p.add_argument("--preset", default=DEFAULT_MODEL)
    p.add_argument("--dtype", choices=["float16", "bfloat16", "float32"], default="float16")
    p.add_argument("--max-diff", type=float, default=2.0 / 255)
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--layerer", default=None, help="region layerer folder (train_layerer.py's final/layerer)")
    p.add_argument("--refiner", default=None, help="layer refiner folder (train_refiner.py's final/refiner)")
    args = p.parse_args(argv)

    preset = get_preset(args.preset)
    target = preset.weights_path()
    if not isinstance(target, Path) or not (preset.weights or "").startswith("embedded:"):
        raise SystemExit(f"preset {args.preset!r} has no embedded weight location")
    full = LayerDecomposePipeline.from_pretrained(args.folder)
    if full.native_resolution != preset.native_resolution:
        raise SystemExit(f"{args.folder}: trained for a {full.native_resolution} px grid (native_resolution), but "
                         f"preset {args.preset!r} runs at {preset.native_resolution} px; set the preset's "
                         f"native_resolution in layerdiff/registry.py first")
    if args.refiner:
        full.register_modules(refiner=load_component(LayerRefiner, args.refiner).eval())
    layerer_dir = Path(args.layerer) if args.layerer else target / "layerer"
    layerer = load_component(RegionLayerer, layerer_dir).eval() if layerer_dir.is_dir() else None
    full.set_progress_bar_config(disable=True)
    dtype = getattr(torch, args.dtype)
    tmp_half = Path(args.folder).parent / f"export-{args.dtype}"
    shutil.rmtree(tmp_half, ignore_errors=True)
    full.save_pretrained(tmp_half)  # a copy to cast
    if layerer is not None:
        layerer.save_pretrained(tmp_half / "layerer", safe_serialization=True)
    for name in ("vae", "transformer", "layerer", "refiner"):
        comp_dir = tmp_half / name
        if not comp_dir.is_dir():
            continue
        model = load_component(type(layerer if name == "layerer" else getattr(full, name)), comp_dir).to(dtype)
        model.save_pretrained(comp_dir, safe_serialization=True)
    half = LayerDecomposePipeline.from_pretrained(tmp_half, torch_dtype=torch.float32)
    half.set_progress_bar_config(disable=True)
    regions = []
    if layerer is not None:
        half_layerer = load_component(RegionLayerer, tmp_half / "layerer", torch_dtype=torch.float32).eval()
        regions = [RegionLayerDecomposer(m, max_layers=full.max_layers) for m in (layerer, half_layerer)]

    engine = SyntheticDesigns(seed=987_654, size=preset.native_resolution, min_layers=2, max_layers=5)
    diffs = []
    for i in range(args.samples):
        sample = engine.sample(i)
        img = sample.layers.composite()
        a, b = (pipe(img, num_layers=3, output_type="np", generator=torch.Generator().manual_seed(i),
                     exact_recomposition=False, refine=False).layers[0] for pipe in (full, half))
        diffs.append(float(np.abs(a - b).mean()))
        if regions:
            a, b = (decomposer.decompose_stack(img, 3) for decomposer in regions)
            diffs.append(float(np.abs(a - b).mean()))
        if full.refiner is not None:
            layers = torch.from_numpy(sample.layers.to_numpy()).permute(0, 3, 1, 2)  # (L, 4, H, W)
            text = full.refiner_phrases([sample.layer_captions])[0]  # (L, P)
            a, b = (pipe.refine(layers, text).numpy() for pipe in (full, half))  # with the model's passes
            diffs.append(float(np.abs(a - b).mean()))
    worst = max(diffs)
    print(f"{args.dtype} vs float32: mean abs layer difference per sample {[round(d, 5) for d in diffs]}")
    if worst > args.max_diff:
        raise SystemExit(f"refused: {args.dtype} changes the layers by {worst:.4f} > {args.max_diff:.4f}; "
                         f"export with --dtype float32")
    with atomic_dir(target) as tmp:
        for item in tmp_half.iterdir():
            dest = tmp / item.name
            shutil.copytree(item, dest) if item.is_dir() else shutil.copy2(item, dest)
    shutil.rmtree(tmp_half, ignore_errors=True)
    size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
    print(f"wrote {target} ({size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
