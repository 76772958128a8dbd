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
   has one). ``--exemplar-ab`` runs the built-in completion twice instead, with exemplar inpainting off
   and on (:func:`layerdiff.regions.hidden.complete_hidden`'s ``exemplar``, set for the run), alternating
   which goes first, and ``--skip-post-hoc`` skips the push-pull decomposer. Every row is also broken
   down by background type.

``--spaces`` instead compares the colour space of the parametric fit (sRGB, linear light, per-layer
choice) on the solid / gradient backgrounds of a validation stream (use a seed other than 31337): RGB L1
on the hidden background pixels and the share of fits accepted.

Prints markdown tables; ``--json`` writes the per-design rows and the summaries.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import time
from collections import defaultdict
from collections.abc import Iterator
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


@contextlib.contextmanager
def exemplar_completion(on: bool) -> Iterator[None]:
    """The region decomposer's built-in completion with ``exemplar`` set to ``on`` while inside."""
    from layerdiff.regions import decomposer as module
    from layerdiff.regions.hidden import complete_hidden

    saved = module.complete_hidden
    module.complete_hidden = functools.partial(complete_hidden, exemplar=on)
    try:
        yield
    finally:
        module.complete_hidden = saved


def decomposer_row(sample: Any, plain: Any | None, default: Any | None, background: str = "",
                   exemplar_ab: bool = False) -> dict[str, Any]:
    """Occlusion scores of the decomposer's layers for one design: ``plain`` (push-pull fill) as painted
    and completed post hoc when given, and ``default`` (its built-in completion) when given, with
    exemplar inpainting off and on (``exemplar_ab``; the order alternates with the design's index)."""
    from layerdiff.completion import complete_stack
    from layerdiff.eval.occlusion import occlusion_scores

    gt = sample.stack()  # (L, H, W, 4)
    image = (np.round(sample.composite * 255.0)).astype(np.uint8)  # (H, W, 4) 8-bit input
    row: dict[str, Any] = {"index": sample.index, "background": background}
    if plain is not None:
        t = time.process_time()
        pred = plain.decompose_stack(image[..., :3], len(gt))  # (L, H, W, 4)
        row["decompose_s"] = time.process_time() - t
        t = time.process_time()
        completed, methods = complete_stack(pred)
        row.update(complete_s=time.process_time() - t, methods=methods, today=occlusion_scores(pred, gt),
                   completed=occlusion_scores(completed, gt))
    if default is not None:
        runs = [("default", None)]
        if exemplar_ab:
            runs = [("exemplar_off", False), ("exemplar_on", True)][:: 1 if sample.index % 2 == 0 else -1]
        for key, on in runs:
            t = time.process_time()
            with exemplar_completion(on) if on is not None else contextlib.nullcontext():
                built_in = default.decompose_stack(image[..., :3], len(gt))  # (L, H, W, 4)
            row[f"{key}_s"] = time.process_time() - t
            row[key] = occlusion_scores(built_in, gt)
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


_VARIANTS = [("today", "push-pull fill"), ("completed", "push-pull fill + complete_stack"),
             ("default", "built-in completion (default)"), ("exemplar_off", "built-in, exemplar off"),
             ("exemplar_on", "built-in, exemplar on")]
_SUMMARY_KEYS = {"default": "built_in"}


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
    p.add_argument("--exemplar-ab", action="store_true",
                   help="built-in completion with exemplar inpainting off and on (instead of its default)")
    p.add_argument("--skip-post-hoc", action="store_true", help="no push-pull decomposer run")
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
            plain = None if args.skip_post_hoc else RegionLayerDecomposer.from_pretrained(args.model, complete=False)
            default = RegionLayerDecomposer.from_pretrained(args.model)
        else:
            plain = RegionLayerDecomposer.from_pretrained(args.model)
    for i in range(args.designs):
        sample = designs.sample(i)
        if not args.skip_oracle:
            oracle.append(oracle_row(sample, designs.design(i)))
        if plain is not None or default is not None:
            through.append(decomposer_row(sample, plain, default, designs.design(i)["background"]["type"],
                                          args.exemplar_ab))
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
        summary["decomposer"] = args.model
        print(f"\n### Occluded regions through {args.model} (true count)\n")
        print("| layers | background | designs | occluded L1 (mean) | occluded L1 (pooled) | ghost rate "
              "| uncovered share |")
        print("|---|---|---|---|---|---|---|")
        kinds = sorted({r["background"] for r in through})
        for key, label in _VARIANTS:
            scored_rows = [r for r in through if key in r]
            if not scored_rows:
                continue
            summary[_SUMMARY_KEYS.get(key, key)] = summarize_occlusion(r[key] for r in scored_rows)
            summary[f"{key}_by_background"] = {}
            for kind in kinds + ["all"]:
                group = [r[key] for r in scored_rows if kind in ("all", r["background"])]
                s = summarize_occlusion(group)
                summary[f"{key}_by_background"][kind] = s
                print(f"| {label} | {kind} | {len(group)} | {s['occluded_l1']:.4f} | {s['occluded_l1_pooled']:.4f} "
                      f"| {s['ghost_rate']:.4f} | {s['uncovered_share']:.4f} |")
        times = ", ".join(f"{label} {_mean(through, key + '_s'):.2f} s" for key, label in
                          [("decompose", "push-pull decomposer"), ("complete", "complete_stack")] + _VARIANTS[2:]
                          if any(key + "_s" in r for r in through))
        print(f"\n{len(through)} designs; CPU time per design: {times}")
    if args.json is not None:
        args.json.write_text(json.dumps({"summary": summary, "oracle": oracle, "through": through}, indent=1,
                                        default=float))
    return summary


if __name__ == "__main__":
    main()
