"""Generation and editing, measured: named colours/shapes land in the named layer; edits stay local.

    python benchmarks/bench_generate.py --model layerdiff-tiny --count 50 --seed 777
    python benchmarks/bench_generate.py --oracle --count 200 --seed 777   # the check on ground truth
    python benchmarks/bench_generate.py --oracle --autoencoder layerdiff-tiny --count 100 --seed 777

The prompts are held-out synthetic designs (a seed the model never trained on, 2-4 layers). Each
design is generated twice: from its caption alone, and from its caption plus each layer's own
caption (``layer_prompts``, the layer phrases). For every layer whose caption names a vocabulary
colour / shape, :mod:`layerdiff.eval.generation` checks that the generated layer k carries that
colour (at least 15% of its alpha mass nearest to it) and that its largest visible part has the
named shape's class (round, box, pointy, hollow). ``--oracle`` scores the true layers instead of
generated ones: the ceiling of the check; it also scores them against the next design's named
colours and shapes (a mismatched caption: what the check passes by chance). With ``--autoencoder
MODEL`` it also scores the true layers after MODEL's autoencoder encodes and decodes them: the
ceiling of anything generated in that latent space.

Generation and generative edits run the model's layer refiner when it has one (layerdiff-tiny does
since the fourteenth session); ``--no-refine`` scores the transformer's layers as decoded, and
``--refiner FOLDER`` scores another trained refiner (``train_refiner.py``'s ``final/refiner``).

Beside the pass rates, the median outline per named class (``outline_by_class``: the fill and hole
share that the shape check thresholds, of generated, true and round-tripped layers) shows how far
generated outlines sit from the true ones, before a threshold flips.

Editing: ``regenerate`` of one layer must leave every other layer bit-identical; ``insert`` with a
box must put the new layer's alpha mass inside the box (fraction reported; alpha is confined to the
box by default, so the fraction before confinement is reported too).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

import numpy as np


def rates(counts: Counter) -> dict:
    from layerdiff.eval.generation import class_rates

    return {"colour_rate": counts["colour_hits"] / max(1, counts["colour_total"]), "colour_n": counts["colour_total"],
            "shape_rate": counts["shape_hits"] / max(1, counts["shape_total"]), "shape_n": counts["shape_total"],
            "shape_by_class": class_rates(counts)}


def by_class(r: dict) -> str:
    """'round 74% (n=27), box 7% (n=14), ...': the shape figure split by the named shape's class."""
    return ", ".join(f"{c} {v['rate']:.0%} (n={v['n']})" for c, v in r["shape_by_class"].items())


def outlines(medians: dict[str, dict[str, float]]) -> str:
    """'box fill 0.71 / holes 0.00 (n=14), ...': median outline measures per named class, as written."""
    return ", ".join(f"{c} fill {v['fill']:.2f} / holes {v['hole']:.2f} (n={v['n']})" for c, v in medians.items())


def _print_breakdowns(rows: list[tuple[str, dict]], outline_by_class: dict[str, dict]) -> None:
    """The shape figure of each row split by named class, then the median outlines per named class."""
    for name, r in rows:
        print(f"shape class by named class, {name}: {by_class(r)}")
    for name, medians in outline_by_class.items():
        print(f"median outline by named class, {name}: {outlines(medians)}")


def _gather(into: dict[str, list], stack: np.ndarray, shapes: list) -> None:
    from layerdiff.eval.generation import outline_measures

    for cls, measures in outline_measures(stack, shapes).items():
        into.setdefault(cls, []).extend(measures)


def main(argv: list[str] | None = None) -> int:
    import torch

    from layerdiff.data.synthetic import SyntheticDesigns
    from layerdiff.eval.generation import median_outlines, score_layers
    from layerdiff.registry import DEFAULT_MODEL

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--count", type=int, default=50)
    p.add_argument("--seed", type=int, default=777)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--guidance", type=float, default=None)
    p.add_argument("--size", type=int, default=128, help="design size for --oracle (the model's native size otherwise)")
    p.add_argument("--oracle", action="store_true", help="score the ground-truth layers (the check's ceiling)")
    p.add_argument("--autoencoder", default=None,
                   help="with --oracle: also score the true layers after this model's encode-decode")
    p.add_argument("--refiner", default=None, help="layer refiner folder to use instead of the model's own")
    p.add_argument("--no-refine", action="store_true", help="score the transformer's layers as decoded (no refiner)")
    p.add_argument("--refine-passes", type=int, default=None,
                   help="layer refiner passes (default: the model's)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    if args.autoencoder and not args.oracle:
        p.error("--autoencoder needs --oracle")
    if args.oracle:
        engine = SyntheticDesigns(seed=args.seed, size=args.size, min_layers=2, max_layers=4)
        roundtrip = _roundtrip(args.autoencoder) if args.autoencoder else None
        counts: Counter = Counter()
        chance: Counter = Counter()
        coded: Counter = Counter()
        drawn: dict[str, dict[str, list]] = {"true layers": {}}  # outline measures per named class
        s = engine.sample(0)
        for i in range(args.count):
            other = engine.sample(i + 1)  # the next design: its caption is the mismatched one, then its turn
            stack = s.layers.to_numpy()  # (L, H, W, 4)
            counts.update(score_layers(stack, s.colors, s.shapes))
            chance.update(score_layers(stack, other.colors, other.shapes))
            _gather(drawn["true layers"], stack, s.shapes)
            if roundtrip is not None:
                decoded = roundtrip(stack)  # (L, H, W, 4)
                coded.update(score_layers(decoded, s.colors, s.shapes))
                _gather(drawn.setdefault("through the autoencoder", {}), decoded, s.shapes)
            s = other
        result = {"model": "ground truth", "count": args.count, "seed": args.seed, **rates(counts),
                  "mismatched_caption": rates(chance)}
        rows = [("ground truth (oracle)", result), ("ground truth, next design's caption (chance)",
                                                    result["mismatched_caption"])]
        if roundtrip is not None:
            result["through_autoencoder"] = {"model": args.autoencoder, **rates(coded)}
            rows.append((f"ground truth through {args.autoencoder}'s autoencoder", result["through_autoencoder"]))
        print("| layers | colour in named layer | shape class in named layer |")
        print("|---|---|---|")
        for name, r in rows:
            print(f"| {name} | {r['colour_rate']:.0%} (n={r['colour_n']}) | {r['shape_rate']:.0%} (n={r['shape_n']}) |")
        result["outline_by_class"] = {name: median_outlines(gathered) for name, gathered in drawn.items()}
        print()
        _print_breakdowns(rows, result["outline_by_class"])
        _write(args.json, result)
        return 0

    from layerdiff.pipelines import LayerEditPipeline, LayerGeneratePipeline

    gen = LayerGeneratePipeline.from_pretrained(args.model)
    if args.refiner:
        from layerdiff.models import LayerRefiner
        from layerdiff.models.weights import load_component

        gen.register_modules(refiner=load_component(LayerRefiner, args.refiner).eval())
    gen.set_progress_bar_config(disable=True)
    refine = not args.no_refine
    engine = SyntheticDesigns(seed=args.seed, size=gen.native_resolution, min_layers=2,
                              max_layers=min(4, gen.max_layers))
    modes = {"caption": Counter(), "caption + layer prompts": Counter()}
    drawn: dict[str, dict[str, list]] = {mode: {} for mode in modes}  # outline measures per named class
    drawn["true layers"] = {}
    for i in range(args.count):
        s = engine.sample(i)
        _gather(drawn["true layers"], s.layers.to_numpy(), s.shapes)
        for mode, counts in modes.items():
            out = gen(s.caption, num_layers=len(s.layers),
                      layer_prompts=list(s.layer_captions) if mode != "caption" else None,
                      num_inference_steps=args.steps, guidance_scale=args.guidance,
                      generator=torch.Generator().manual_seed(i), output_type="np", refine=refine,
                      refine_passes=args.refine_passes)
            counts.update(score_layers(out.layers[0], s.colors, s.shapes))
            _gather(drawn[mode], out.layers[0], s.shapes)

    edit = LayerEditPipeline(**gen.components)  # the components carry the model's settings
    edit.set_progress_bar_config(disable=True)
    identical, inside, drawn_inside = [], [], []
    for i in range(min(10, args.count)):
        s = engine.sample(1000 + i)
        layered = s.layers
        k = len(layered) - 1
        regen = edit(layered, layer=k, operation="regenerate", prompt=s.layer_captions[k], output_type="np",
                     refine=refine, refine_passes=args.refine_passes, num_inference_steps=args.steps,
                     generator=torch.Generator().manual_seed(i)).images[0]
        identical.append(all(np.array_equal(regen[j].pixels, layered[j].pixels) for j in range(len(layered))
                             if j != k))
        box = (0.25, 0.25, 0.75, 0.75)
        for confine, record in ((True, inside), (False, drawn_inside)):
            ins = edit(layered, layer=-1, operation="insert", prompt="a red circle", box=box, output_type="np",
                       confine_to_box=confine, num_inference_steps=args.steps, refine=refine,
                       refine_passes=args.refine_passes,
                       generator=torch.Generator().manual_seed(i)).images[0]
            a = ins[-1].on_canvas(ins.size)[..., 3]
            h, w = a.shape
            mass = float(a.sum())
            in_box = float(a[int(0.25 * h) : int(0.75 * h), int(0.25 * w) : int(0.75 * w)].sum())
            record.append(in_box / mass if mass > 0 else 0.0)
    result = {
        "model": args.model, "count": args.count, "seed": args.seed, "refine": refine,
        "refine_passes": args.refine_passes,
        "refiner": args.refiner or ("the model's" if gen.refiner is not None else None),
        **{mode: rates(counts) for mode, counts in modes.items()},
        "outline_by_class": {name: median_outlines(gathered) for name, gathered in drawn.items()},
        "regenerate_others_bit_identical": float(np.mean(identical)),
        "insert_alpha_mass_inside_box": float(np.mean(inside)),
        "insert_drawn_mass_inside_box": float(np.mean(drawn_inside)),
    }
    print("| model | prompt | colour in named layer | shape class in named layer |")
    print("|---|---|---|---|")
    for mode in modes:
        r = result[mode]
        print(f"| {args.model} | {mode} | {r['colour_rate']:.0%} (n={r['colour_n']}) | {r['shape_rate']:.0%} "
              f"(n={r['shape_n']}) |")
    print()
    _print_breakdowns([(mode, result[mode]) for mode in modes], result["outline_by_class"])
    print(f"\nregenerate: others bit-identical {result['regenerate_others_bit_identical']:.0%}; insert: alpha inside "
          f"box {result['insert_alpha_mass_inside_box']:.0%} (drawn before confinement "
          f"{result['insert_drawn_mass_inside_box']:.0%})")
    _write(args.json, result)
    return 0


def _roundtrip(model: str):
    """stack (L, H, W, 4) -> the same layers encoded and decoded by ``model``'s autoencoder."""
    import torch

    from layerdiff.pipelines import LayerGeneratePipeline

    pipe = LayerGeneratePipeline.from_pretrained(model)

    def run(stack: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(stack, np.float32)).permute(0, 3, 1, 2)  # (L, 4, H, W)
        return pipe.decode_layers(pipe.encode_layers(x)).permute(0, 2, 3, 1).cpu().numpy()  # (L, H, W, 4)

    return run


def _write(path: str | None, result: dict) -> None:
    if path:
        from layerdiff.atomic import atomic_path

        with atomic_path(path) as tmp, open(tmp, "w") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    sys.exit(main())
