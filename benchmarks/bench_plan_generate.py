"""Caption alone -> plan -> layers, measured (issue #30): does the planner read held-out captions right, and
does the image from the plan carry the named background colour and each named object's colour and shape
in its own layer?

    python benchmarks/bench_plan_generate.py --parse-only --count 500 --split test   # the planner alone
    python benchmarks/bench_plan_generate.py --count 50 --size 512 --seed 777        # planner + generation
    python benchmarks/bench_plan_generate.py --oracle --count 50 --size 512 --seed 777   # the check's ceiling

Captions come from :mod:`plan_captions` (templates and words of their own, not the synthetic engine's
caption template nor the planner's test captions), each with its gold plan. ``--parse-only`` reports the
share of captions planned exactly right (:func:`plan_captions.matches`: background kind and colours, and
bottom to top every layer's kind, colour, shape, text and, where the caption names one, place).

Generation runs :func:`layerdiff.planning.generate_from_plan` on the plan the planner made (no layer
prompts) at ``--size`` and scores it with :func:`layerdiff.eval.generation.score_plan_image` against the
gold: a caption passes when its bottom layer carries the named background colour and every named object's
colour and shape are in one layer of their own. Time per image is the wall time of planning + generation
+ writing nothing, on this machine's ``--threads`` CPU threads. ``--oracle`` scores exact drawings of the
plans instead (each named shape drawn by the synthetic engine's renderer in its planned box, at 80% of its
side): what a perfect object generator would score under the check.

``--captions FILE`` reads a hand-written caption set instead (``benchmarks/data/captions_blind_s17.json``:
80 captions, each with its expected plan) and scores the planner field by field (:func:`field_scores`):
background (kind and colours; a scene by its kind), count (layers and text layers), every layer's colour,
shape, text and place (each matched one to one, in any order, a null in the expected plan counting as any
value), and the exact plan (all of them at once, bottom to top where the set marks a caption ``ordered``).
``--generation-only`` keeps the set's captions marked ``generation`` for the generation modes, ``--ids``
chosen captions. Objects are sampled with seeds counted from 0 within the captions run (as with ``--offset``).

    python benchmarks/bench_plan_generate.py --captions benchmarks/data/captions_blind_s17.json --parse-only
    python benchmarks/bench_plan_generate.py --captions benchmarks/data/captions_blind_s17.json \\
        --generation-only --size 512 --threads 1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from plan_captions import blind_caption, heldout_caption, matches  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    from layerdiff.registry import DEFAULT_MODEL

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--count", type=int, default=None,
                   help="captions to take (templates: 50 unless given; --captions: all unless given)")
    p.add_argument("--seed", type=int, default=777)
    p.add_argument("--offset", type=int, default=0,
                   help="skip this many captions of the stream first (to run shards of one caption set in parallel)")
    p.add_argument("--split", default="test", choices=["dev", "test", "blind"])
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--parse-only", action="store_true", help="measure the planner alone")
    p.add_argument("--show-misses", type=int, default=0, help="print this many misparsed captions")
    p.add_argument("--oracle", action="store_true", help="score exact drawings of the plans (the check's ceiling)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--captions", default=None,
                   help="a caption set (JSON, as benchmarks/data/captions_blind_s17.json) instead of the templates")
    p.add_argument("--generation-only", action="store_true",
                   help="with --captions: only the captions the set marks for the generation check")
    p.add_argument("--ids", default=None, help="with --captions: only these caption ids (comma-separated)")
    p.add_argument("--json", default=None)
    p.add_argument("--save", default=None, metavar="DIR",
                   help="with generation: also write each caption's layers as a PNG folder DIR/<index>/ (to look at)")
    args = p.parse_args(argv)

    from layerdiff.planning import plan_caption

    if args.captions:
        entries = read_caption_set(args.captions)
        if args.generation_only:
            entries = [e for e in entries if e.get("generation")]
        if args.ids:
            wanted = {int(v) for v in args.ids.split(",") if v.strip()}
            entries = [e for e in entries if int(e.get("id", -1)) in wanted]
        entries = entries[args.offset:] if args.count is None else entries[args.offset:args.offset + args.count]
        pairs = [(e["caption"], e["gold"]) for e in entries]
        ids = [int(e.get("id", args.offset + i)) for i, e in enumerate(entries)]
    else:
        args.count = 50 if args.count is None else args.count
        rng = np.random.default_rng(args.seed)
        draw = blind_caption if args.split == "blind" else (lambda r: heldout_caption(r, args.split))
        pairs = [draw(rng) for _ in range(args.offset + args.count)][args.offset:]
        entries = [{"caption": cap, "gold": gold, "ordered": True} for cap, gold in pairs]
        ids = list(range(args.offset, args.offset + len(pairs)))
    plans = [plan_caption(cap) for cap, _ in pairs]
    result: dict
    if args.captions:
        scores = [field_scores(plan, e["gold"], bool(e.get("ordered"))) for plan, e in zip(plans, entries)]
        right = [sc["exact"] for sc in scores]
        result = {"captions": str(args.captions), "count": len(pairs), "parsed_exactly": float(np.mean(right)),
                  "fields": {k: float(np.mean([sc[k] for sc in scores])) for k in FIELDS},
                  "misses": [{"id": i, "caption": cap, "wrong": [k for k in FIELDS if not sc[k]]}
                             for i, sc, (cap, _) in zip(ids, scores, pairs) if not sc["exact"]]}
        print(f"planner, {args.captions}: {sum(right)}/{len(right)} parsed exactly ({result['parsed_exactly']:.0%}); "
              + ", ".join(f"{k} {sum(sc[k] for sc in scores)}/{len(scores)}" for k in FIELDS if k != "exact"))
    else:
        right = [matches(plan, gold) for plan, (_, gold) in zip(plans, pairs)]
        result = {"split": args.split, "seed": args.seed, "count": args.count, "parsed_exactly": float(np.mean(right))}
        print(f"planner, held-out {args.split} captions (seed {args.seed}): {sum(right)}/{len(right)} parsed exactly "
              f"({result['parsed_exactly']:.0%})")
    shown = 0
    for ok, plan, (cap, gold) in zip(right, plans, pairs):
        if not ok and shown < args.show_misses:
            shown += 1
            print(f"  miss: {cap!r}\n    got  {plan.to_dict()['background']} "
                  f"{[(x['kind'], x['color'], x['shape'], x['text'], x['place']) for x in plan.to_dict()['layers']]}"
                  f"\n    want {gold['background']} "
                  f"{[(x['kind'], x['color'], x['shape'], x['text'], x['place']) for x in gold['layers']]}")
    if args.oracle:
        from layerdiff.eval.generation import score_plan_image

        scores = [score_plan_image(_exact_image(plan, args.size), gold) for plan, (_, gold) in zip(plans, pairs)]
        result["oracle_caption_pass_rate"] = float(np.mean([sc["pass"] for sc in scores]))
        print(f"exact drawings of the plans at {args.size}x{args.size}: {result['oracle_caption_pass_rate']:.0%} "
              "of captions pass the check")
    elif not args.parse_only:
        import torch

        from layerdiff.eval.generation import score_plan_image
        from layerdiff.pipelines import LayerGeneratePipeline
        from layerdiff.planning import generate_from_plan

        torch.set_num_threads(args.threads)
        gen = LayerGeneratePipeline.from_pretrained(args.model)
        gen.set_progress_bar_config(disable=True)
        passed, times, parts = [], [], {"background": [], "colour": [], "shape": []}
        per_caption = []
        for i, (cap, gold) in enumerate(pairs):
            start = time.perf_counter()
            image = generate_from_plan(gen, plan_caption(cap), args.size, args.size, seed=i,
                                       num_inference_steps=args.steps)
            times.append(time.perf_counter() - start)
            score = score_plan_image(image.to_numpy(), gold)
            if args.save:
                from layerdiff.io.pngdir import write_pngdir

                write_pngdir(image, Path(args.save) / f"{ids[i]:03d}")
            passed.append(score["pass"])
            parts["background"].append(score["background"])
            parts["colour"].extend(score["colours"])
            parts["shape"].extend(score["shapes"])
            per_caption.append({"index": ids[i], "caption": cap, "pass": score["pass"],
                                "background": score["background"], "colours": score["colours"],
                                "shapes": score["shapes"], "seconds": times[-1]})
            print(f"  {ids[i]:3d} {'pass' if score['pass'] else 'MISS'} {times[-1]:5.1f}s {cap}", flush=True)
        result.update({
            "model": args.model, "size": args.size, "caption_pass_rate": float(np.mean(passed)),
            "background_colour_rate": float(np.mean(parts["background"])),
            "object_colour_rate": float(np.mean(parts["colour"])) if parts["colour"] else None,
            "object_shape_rate": float(np.mean(parts["shape"])) if parts["shape"] else None,
            "seconds_per_image": float(np.mean(times)), "threads": args.threads, "per_caption": per_caption,
        })
        print(f"\ncaption alone at {args.size}x{args.size}: {sum(passed)}/{len(passed)} captions pass "
              f"({result['caption_pass_rate']:.0%}); background colour {result['background_colour_rate']:.0%}, "
              f"object colour {result['object_colour_rate']:.0%} (n={len(parts['colour'])}), object shape "
              f"{result['object_shape_rate']:.0%} (n={len(parts['shape'])}); {result['seconds_per_image']:.1f} s "
              f"per image ({args.threads} threads)")
    if args.json:
        from layerdiff.atomic import atomic_path

        with atomic_path(args.json) as tmp, open(tmp, "w") as fh:
            json.dump(result, fh, indent=2)
    return 0


FIELDS = ("background", "count", "colours", "shapes", "text", "places", "exact")
"""What :func:`field_scores` reports per caption."""


def read_caption_set(path: str | Path) -> list[dict]:
    """The ``captions`` entries of a caption set file, each ``{"caption", "gold", "ordered", ...}``."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    entries = data["captions"] if isinstance(data, dict) else data
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or not isinstance(e.get("caption"), str) or not isinstance(e.get("gold"), dict):
            raise ValueError(f"{path}: captions[{i}] needs a 'caption' string and a 'gold' plan")
    return entries


def _agree(got: dict, want: dict, key: str) -> bool:
    """Whether a planned layer agrees with an expected one on ``key`` (a null expected value: any; colours by
    family: a planned "light green" agrees with "green")."""
    if got.get("kind") != want.get("kind"):
        return False
    if key == "text":
        return got.get("text") == want.get("text")
    if key == "color":
        return want.get(key) is None or _families([got.get(key)]) == _families([want.get(key)])
    return want.get(key) is None or got.get(key) == want.get(key)


def _families(colours: list) -> list:
    """Plan colours as their vocabulary families ("light green" -> "green"); other values as given."""
    from layerdiff.eval.generation import colour_family

    return [colour_family(c) or c for c in colours]


def _perfect(ok: list[list[bool]]) -> bool:
    """Whether every row (expected layer) can be matched to a distinct column (planned layer)."""
    match: dict[int, int] = {}

    def augment(i: int, seen: set[int]) -> bool:
        for j, good in enumerate(ok[i]):
            if good and j not in seen:
                seen.add(j)
                if j not in match or augment(match[j], seen):
                    match[j] = i
                    return True
        return False

    return all(augment(i, set()) for i in range(len(ok)))


def field_scores(plan, gold: dict, ordered: bool = False) -> dict[str, bool]:
    """Per field, whether ``plan`` (a LayerPlan or its dict) reads the caption as ``gold`` does.

    background: kind and colours (by family; a scene: its kind); count: as many layers, and text layers, as the gold;
    colours / shapes / text / places: every expected layer matched one to one to a planned layer of its kind
    that agrees on that field (a null expected colour, shape or place agrees with anything; text must be
    equal); exact: all of these at once, and with ``ordered`` each layer compared at its place bottom to top.
    """
    d = plan if isinstance(plan, dict) else plan.to_dict()
    got_bg, want_bg = d["background"], gold["background"]
    background = got_bg["kind"] == want_bg["kind"] and (
        want_bg["kind"] == "scene" or _families(list(got_bg["colors"])) == _families(list(want_bg["colors"])))
    got, want = d["layers"], gold["layers"]

    def texts(layers: list[dict]) -> int:
        return sum(lay.get("kind") == "text" for lay in layers)

    count = len(got) == len(want) and texts(got) == texts(want)
    keys = ("color", "shape", "text", "place")
    per = {k: _perfect([[_agree(g, w, k) for g in got] for w in want]) for k in keys}
    if ordered:
        layers_right = count and all(all(_agree(g, w, k) for k in keys) for g, w in zip(got, want))
    else:
        layers_right = count and _perfect([[all(_agree(g, w, k) for k in keys) for g in got] for w in want])
    return {"background": background, "count": count, "colours": per["color"], "shapes": per["shape"],
            "text": per["text"], "places": per["place"], "exact": background and layers_right}


def _exact_image(plan, size: int) -> np.ndarray:
    """(L, size, size, 4): the plan drawn exactly (shapes by the synthetic renderer, 80% of their boxes)."""
    from layerdiff.data.synth_elements import render_element
    from layerdiff.planning.draw import draw_background, draw_text, rgb

    aspect = {"rectangle": 0.55, "ellipse": 0.6, "rounded rectangle": 0.7}
    layers = [draw_background(plan.background, size, size)]
    for lay in plan.layers:
        if lay.kind == "text":
            layers.append(draw_text(lay, plan.background, size, size).on_canvas((size, size)))
            continue
        x0, y0, x1, y1 = lay.box
        side = 0.8 * min(x1 - x0, y1 - y0)
        spec = {"type": "shape", "kind": "shape", "shape": lay.shape or "circle", "rgb": rgb(lay.color or "gray"),
                "size": (side, side * aspect.get(lay.shape, 1.0)), "angle": 0.0, "thickness": 0.28,
                "outline": None, "effect": None, "center": ((x0 + x1) / 2, (y0 + y1) / 2)}
        layers.append(render_element(spec, size, None))
    return np.stack(layers).astype(np.float32)


if __name__ == "__main__":
    sys.exit(main())
