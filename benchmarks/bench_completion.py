"""Background completion and the occluded-region figure on the synthetic held-out set (issue 28, 2b/3).

    python benchmarks/bench_completion.py --designs 50 --json completion.json

1. **Oracle masks** (completion measured on its own): for each design (seed 31337, 512 px, 2-6 layers),
   the true background layer's hidden pixels are filled from the pixels where it is fully visible in
   the input, by push-pull (today's fill, :func:`layerdiff.regions.fill.push_pull_fill`) and by
   :func:`layerdiff.completion.complete_layer`; scored by RGB L1 on the background's hidden pixels (the
   layers above cover at least 0.5), against the true background. Broken down by background type, with
   the method chosen and the CPU time of each fill.
2. **Through the decomposer** (``--model``, true layer count): :func:`layerdiff.eval.occlusion.occlusion_scores`
   of its layers with the push-pull fill (``complete=False`` where the decomposer has that switch), after
   :func:`layerdiff.completion.complete_stack` re-paints what each of those layers hides (post hoc, the
   composite unchanged), and as the decomposer paints them by default (its built-in completion, where it
   has one).

``--spaces`` instead compares the colour space of the parametric fit (sRGB, linear light, per-layer
choice) on the solid / gradient backgrounds of a validation stream (use a seed other than 31337): RGB L1
on the hidden background pixels and the share of fits accepted.

Prints markdown tables; ``--json`` writes the per-design rows and the summaries.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np


def oracle_row(sample: Any, design: dict[str, Any]) -> dict[str, Any]:
    """Push-pull vs completion of the true background under true masks, for one design."""
    from layerdiff.completion import complete_layer_info
    from layerdiff.eval.occlusion import HIDDEN_ABOVE
    from layerdiff.regions.fill import push_pull_fill

    stack = sample.stack()  # (L, H, W, 4)
    truth = stack[0, ..., :3]  # (H, W, 3)
    cover = 1.0 - np.prod(1.0 - stack[1:, ..., 3], axis=0)  # (H, W) what the layers above cover
    image = np.round(sample.composite[..., :3] * 255.0) / 255.0  # (H, W, 3) the 8-bit input
    known = cover <= 0.0
    scored = cover >= HIDDEN_ABOVE
    row: dict[str, Any] = {"index": sample.index, "background": design["background"]["type"],
                           "hidden_share": float(scored.mean())}
    if not scored.any() or not known.any():
        return row
    t = time.process_time()
    pp = push_pull_fill(np.where(known[..., None], image, 0.0), known.astype(np.float32))  # (H, W, 3)
    row["push_pull_s"] = time.process_time() - t
    t = time.process_time()
    done = complete_layer_info(image, known, ~known)
    row["completion_s"] = time.process_time() - t
    row["method"] = done.method
    row["push_pull_l1"] = float(np.abs(pp - truth).mean(-1)[scored].mean())
    row["completion_l1"] = float(np.abs(done.rgb - truth).mean(-1)[scored].mean())
    return row


def decomposer_row(sample: Any, plain: Any, default: Any | None) -> dict[str, Any]:
    """Occlusion scores of the decomposer's layers for one design: ``plain`` (push-pull fill) as painted
    and completed post hoc, and ``default`` (its built-in completion) when given."""
    from layerdiff.completion import complete_stack
    from layerdiff.eval.occlusion import occlusion_scores

    gt = sample.stack()  # (L, H, W, 4)
    image = (np.round(sample.composite * 255.0)).astype(np.uint8)  # (H, W, 4) 8-bit input
    t = time.process_time()
    pred = plain.decompose_stack(image[..., :3], len(gt))  # (L, H, W, 4)
    decompose_s = time.process_time() - t
    t = time.process_time()
    completed, methods = complete_stack(pred)
    complete_s = time.process_time() - t
    row = {"index": sample.index, "decompose_s": decompose_s, "complete_s": complete_s, "methods": methods,
           "today": occlusion_scores(pred, gt), "completed": occlusion_scores(completed, gt)}
    if default is not None:
        t = time.process_time()
        built_in = default.decompose_stack(image[..., :3], len(gt))  # (L, H, W, 4)
        row["default_s"] = time.process_time() - t
        row["default"] = occlusion_scores(built_in, gt)
    return row


def space_rows(designs: Any, count: int) -> list[dict[str, Any]]:
    """Parametric fits of the true background in each colour space, on designs with a parametric one."""
    from layerdiff.completion import fit_parametric
    from layerdiff.eval.occlusion import HIDDEN_ABOVE

    rows = []
    for i in range(count):
        kind = designs.design(i)["background"]["type"]
        if kind not in ("solid", "linear", "radial"):
            continue
        sample = designs.sample(i)
        stack = sample.stack()  # (L, H, W, 4)
        cover = 1.0 - np.prod(1.0 - stack[1:, ..., 3], axis=0)  # (H, W)
        image = np.round(sample.composite[..., :3] * 255.0) / 255.0  # (H, W, 3)
        scored = cover >= HIDDEN_ABOVE
        if not scored.any() or not (cover <= 0).any():
            continue
        row: dict[str, Any] = {"index": i, "background": kind}
        for space in ("srgb", "linear", "auto"):
            fit = fit_parametric(image, cover <= 0, space=space)
            if fit is None:
                continue
            full = fit.render(cover.shape)  # (H, W, 3)
            row[f"{space}_l1"] = float(np.abs(full - stack[0, ..., :3]).mean(-1)[scored].mean())
            row[f"{space}_accepted"] = float(fit.accepted)
        rows.append(row)
    return rows


def _mean(rows: list[dict[str, Any]], key: str) -> float:
    vals = [r[key] for r in rows if key in r]
    return float(np.mean(vals)) if vals else float("nan")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from layerdiff.registry import DEFAULT_MODEL

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--designs", type=int, default=50)
    p.add_argument("--seed", type=int, default=31337)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--min-layers", type=int, default=2)
    p.add_argument("--max-layers", type=int, default=6)
    p.add_argument("--model", default=DEFAULT_MODEL, help="decomposer for part 2; 'none' skips it")
    p.add_argument("--skip-oracle", action="store_true", help="only the figures through the decomposer")
    p.add_argument("--spaces", action="store_true", help="compare the parametric fit's colour spaces only")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)

    from layerdiff.data.synthetic import SyntheticDesigns
    from layerdiff.eval.occlusion import summarize_occlusion

    designs = SyntheticDesigns(args.seed, size=args.size, min_layers=args.min_layers, max_layers=args.max_layers)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; seed {args.seed}, {args.designs} designs, "
          f"{args.size} px, {args.min_layers}-{args.max_layers} layers")
    if args.spaces:
        rows = space_rows(designs, args.designs)
        print("\n### Parametric fit colour space (RGB L1 on hidden background pixels; share accepted)\n")
        print("| space | backgrounds | L1 | accepted |")
        print("|---|---|---|---|")
        result: dict[str, Any] = {}
        for space in ("srgb", "linear", "auto"):
            l1, acc = _mean(rows, f"{space}_l1"), _mean(rows, f"{space}_accepted")
            result[space] = {"l1": l1, "accepted": acc}
            print(f"| {space} | {len(rows)} | {l1:.5f} | {acc:.2f} |")
        if args.json is not None:
            args.json.write_text(json.dumps({"spaces": result, "rows": rows}, indent=1))
        return result
    oracle, through = [], []
    plain = default = None
    if args.model != "none":
        import inspect

        from layerdiff.regions.decomposer import RegionLayerDecomposer

        if "complete" in inspect.signature(RegionLayerDecomposer.__init__).parameters:
            plain = RegionLayerDecomposer.from_pretrained(args.model, complete=False)
            default = RegionLayerDecomposer.from_pretrained(args.model)
        else:
            plain = RegionLayerDecomposer.from_pretrained(args.model)
    for i in range(args.designs):
        sample = designs.sample(i)
        if not args.skip_oracle:
            oracle.append(oracle_row(sample, designs.design(i)))
        if plain is not None:
            through.append(decomposer_row(sample, plain, default))
        print(f"  design {i} done", flush=True)

    scored = [r for r in oracle if "completion_l1" in r]
    if scored:
        print("\n### Background completion, oracle masks (RGB L1 on hidden background pixels)\n")
        print("| background | designs | push-pull L1 | completion L1 | methods chosen |")
        print("|---|---|---|---|---|")
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in scored:
            groups[r["background"]].append(r)
        for name, rows in sorted(groups.items()) + [("all", scored)]:
            methods = defaultdict(int)
            for r in rows:
                methods[r["method"]] += 1
            chosen = ", ".join(f"{m} {n}" for m, n in sorted(methods.items()))
            print(f"| {name} | {len(rows)} | {_mean(rows, 'push_pull_l1'):.4f} | {_mean(rows, 'completion_l1'):.4f} "
                  f"| {chosen} |")
        print(f"\nCPU time per background (mean): push-pull {_mean(scored, 'push_pull_s'):.3f} s, "
              f"completion {_mean(scored, 'completion_s'):.2f} s")
    summary: dict[str, Any] = {"oracle": {"push_pull_l1": _mean(scored, "push_pull_l1"),
                                          "completion_l1": _mean(scored, "completion_l1"),
                                          "designs": len(scored)}}
    if through:
        today = summarize_occlusion(r["today"] for r in through)
        completed = summarize_occlusion(r["completed"] for r in through)
        summary.update(decomposer=args.model, today=today, completed=completed)
        print(f"\n### Occluded regions through {args.model} (true count)\n")
        print("| layers | occluded L1 (mean) | occluded L1 (pooled) | ghost rate | uncovered share |")
        print("|---|---|---|---|---|")
        rows = [("push-pull fill", today), ("push-pull fill + complete_stack", completed)]
        if default is not None:
            built_in = summarize_occlusion(r["default"] for r in through)
            summary["built_in"] = built_in
            rows.append(("built-in completion (default)", built_in))
        for name, s in rows:
            print(f"| {name} | {s['occluded_l1']:.4f} | {s['occluded_l1_pooled']:.4f} | {s['ghost_rate']:.4f} "
                  f"| {s['uncovered_share']:.4f} |")
        print(f"\n{int(today['samples'])} designs scored, {int(today['with_hidden'])} with hidden pixels; "
              f"CPU time per design: decompose {_mean(through, 'decompose_s'):.2f} s, "
              f"complete_stack {_mean(through, 'complete_s'):.2f} s, default decomposer "
              f"{_mean(through, 'default_s'):.2f} s")
    if args.json is not None:
        args.json.write_text(json.dumps({"summary": summary, "oracle": oracle, "through": through}, indent=1,
                                        default=float))
    return summary


if __name__ == "__main__":
    main()
