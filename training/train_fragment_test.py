"""Train the fragment test of a region layerer (the ``layer_net`` head, :mod:`layerdiff.regions.fragments`).

    python -m training.train_fragment_test --layerer runs/layerer/final/layerer --designs 400 \
        --adjusted-designs 200 --output-dir runs/fragments

The pair and background heads of ``--layerer`` stay as they are; only the new head is trained, on
designs that layerer never saw. Three resumable phases:

1. *segment*: designs of ``SyntheticDesigns(--data-seed)`` and, with ``--adjusted-designs``, of a
   stream whose backgrounds are all adjusted photos (``--adjusted-seed``) are segmented as at
   inference (:func:`training.train_layerer.segment_designs`);
2. *label*: the layerer proposes layers (solver steps 1-5, automatic count); every proposed layer but
   the background gets its :func:`~layerdiff.regions.fragments.layer_features`, whether it and its
   partner mostly show the same ground-truth layer
   (:func:`~layerdiff.regions.fragments.fragment_targets`) and, unless ``--target majority``, how
   RGB L1 and soft IoU at merge budgets 0 and 5 (:func:`layerdiff.eval.metric.evaluate_pair`, against
   the design's ground truth) change when it joins its partner. Written to
   ``<output-dir>/fragments.npz`` (``--workers`` processes);
3. *train*: the targets of ``--target`` (:func:`targets_from`), AdamW on the binary cross-entropy of
   the head (full batch), EMA.

Writes ``<output-dir>/final/layerer`` (the input layerer plus the head, config + safetensors) and
``final/training.json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from training.common import (
    EMA,
    LossLog,
    RunConfig,
    add_run_args,
    lr_at,
    map_tables,
    optimizer_step,
    run_config_from,
    setup_run,
    write_final,
)
from training.train_layerer import segment_designs

BUDGETS = (0, 5)  # merge budgets of the metric targets
SCORES = ("l1@0", "l1@5", "iou@0", "iou@5")  # the change of each when a layer joins its partner
TARGETS = ("cost", "cost0", "l1", "majority")


def merge_into_partner(layer: np.ndarray, k: int, partner: int) -> np.ndarray:
    """The layer indices (n,) after layer ``k`` joins ``partner`` (later layers move down one)."""
    out = layer.copy()
    out[out == k] = partner
    out[out > k] -= 1
    return out


def design_rows(decomposer, path: Path, stack: np.ndarray | None) -> dict[str, np.ndarray]:
    """Rows of the proposed non-background layers of one segmented design: ``features`` (m, LAYER_FEATURES),
    ``majority`` (m,) and, when the ground-truth ``stack`` (L, H, W, 4) is given,
    ``deltas`` (m, 4): the change of each of SCORES when the layer joins its partner (NaN otherwise)."""
    from layerdiff.eval.metric import evaluate_pair
    from layerdiff.regions.fragments import LAYER_FEATURES, fragment_targets, layer_features
    from layerdiff.regions.graph import graph_from_labels
    from layerdiff.regions.paint import at_work_size

    z = np.load(path)
    image = z["image"].astype(np.float32) / 255  # (H, W, 4)
    graph = graph_from_labels(image, z["labels"].astype(np.int64))
    same, _, bg, layer = decomposer.propose(graph)
    rows = {"features": np.zeros((0, LAYER_FEATURES), np.float32), "majority": np.zeros(0, np.float32),
            "deltas": np.zeros((0, len(SCORES)), np.float32)}
    if layer.max() < 2:  # the fragment test never leaves fewer than two layers
        return rows
    feats, partner = layer_features(graph, same, bg, layer)
    majority = fragment_targets(layer, partner, z["counts"])[1:].astype(np.float32)
    deltas = np.full((len(feats) - 1, len(SCORES)), np.nan, np.float32)
    if stack is not None:
        def scores(assignment: np.ndarray) -> np.ndarray | None:
            layers = at_work_size(image, decomposer.config.work_size,
                                  lambda small: decomposer.paint(small, graph, assignment))  # (K, H, W, 4)
            out = evaluate_pair(layers, stack, image=image, max_edits=max(BUDGETS))
            if out["skipped"]:
                return None
            return np.array([out[name][b] for name in ("l1", "iou") for b in BUDGETS])  # in SCORES order

        base = scores(layer)
        if base is None:
            return rows
        for k in range(1, len(feats)):
            deltas[k - 1] = scores(merge_into_partner(layer, k, int(partner[k]))) - base
    return {"features": feats[1:], "majority": majority, "deltas": deltas}


def targets_from(table: dict[str, np.ndarray], target: str) -> np.ndarray:
    """Binary targets (m,): ``cost``: joining lowers the LayerD cost (L1 + 1 - IoU) / 2 summed over
    BUDGETS; ``cost0``: it lowers the cost at budget 0 (the layers as a user gets them); ``l1``: it
    lowers RGB L1 summed over BUDGETS without lowering soft IoU summed over them; ``majority``: layer
    and partner mostly show the same ground-truth layer."""
    if target == "majority":
        return table["majority"].astype(np.float32)
    d = table["deltas"].astype(np.float64)  # (m, 4) in SCORES order
    if target == "cost0":
        return (d[:, 0] - d[:, 2] < 0).astype(np.float32)
    l1, iou = d[:, 0] + d[:, 1], d[:, 2] + d[:, 3]
    good = (l1 - iou < 0) if target == "cost" else (l1 < 0) & (iou >= 0)
    return good.astype(np.float32)


_WORKER: dict[str, object] = {}


def _label_one(job: tuple[str, int, str, int, dict, int, bool]) -> dict[str, np.ndarray]:
    """One design's rows in a worker process (the decomposer and design stream built once per process)."""
    from layerdiff.data.synthetic import SyntheticDesigns
    from layerdiff.regions.decomposer import RegionLayerDecomposer

    layerer, max_layers, path, seed, option, size, metric = job
    if _WORKER.get("key") != (layerer, max_layers):
        _WORKER.update(key=(layerer, max_layers),
                       decomposer=RegionLayerDecomposer.from_pretrained(layerer, max_layers=max_layers))
    key = (seed, tuple(sorted(option.items())), size, max_layers)
    if key not in _WORKER:
        _WORKER[key] = SyntheticDesigns(seed=seed, size=size, min_layers=2, max_layers=max_layers, **option)
    path = Path(path)
    stack = _WORKER[key].sample(int(path.stem.split("-")[-1])).stack() if metric else None
    return design_rows(_WORKER["decomposer"], path, stack)


def label_designs(jobs: list[tuple], out: Path, metric: bool, workers: int = 1,
                  log_every: int = 50) -> dict[str, np.ndarray]:
    """Phase 2: the rows of every design (cached in ``out``; the metric deltas only when ``metric``).
    ``jobs``: one (layerer, max_layers, segment file, stream seed, stream option, size) per design."""
    if out.is_file():
        z = dict(np.load(out))
        if int(z["designs"]) == len(jobs) and (bool(z["metric"]) or not metric):
            return z
    jobs = [job + (metric,) for job in jobs]
    return map_tables(_label_one, jobs, out, workers, log_every, "labelled designs", designs=len(jobs),
                      metric=metric)


def main(argv: list[str] | None = None) -> int:
    from layerdiff.registry import DEFAULT_MODEL

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_args(p)
    p.add_argument("--layerer", default=DEFAULT_MODEL,
                   help="trained layerer folder (or a pipeline folder / registry preset with one)")
    p.add_argument("--designs", type=int, default=400, help="plain synthetic designs to learn from")
    p.add_argument("--data-seed", type=int, default=11, help="seed of the design stream (not the layerer's)")
    p.add_argument("--adjusted-designs", type=int, default=200, help="designs over adjusted photos")
    p.add_argument("--adjusted-seed", type=int, default=12)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--max-layers", type=int, default=6)
    p.add_argument("--target", choices=TARGETS, default="cost")
    p.add_argument("--workers", type=int, default=1, help="processes segmenting and labelling the designs")
    p.add_argument("--layer-width", type=int, default=8)
    p.add_argument("--layer-depth", type=int, default=1)
    p.set_defaults(output_dir="runs/fragments", steps=1000, lr=3e-3, weight_decay=1e-2, warmup_steps=50,
                   ema_decay=0.99, log_every=100)
    args = p.parse_args(argv)
    cfg = run_config_from(args, {k: getattr(args, k) for k in (
        "layerer", "designs", "data_seed", "adjusted_designs", "adjusted_seed", "size", "max_layers", "target",
        "workers", "layer_width", "layer_depth")})
    return train(cfg)


def _load_layerer(name_or_path: str):
    from layerdiff.models.region_layerer import RegionLayerer
    from layerdiff.models.weights import load_component
    from layerdiff.regions.decomposer import layerer_folder

    return load_component(RegionLayerer, layerer_folder(name_or_path)[0], torch_dtype=torch.float32)


def train(cfg: RunConfig) -> int:
    from accelerate import Accelerator

    from layerdiff.models.region_layerer import RegionLayerer
    from layerdiff.regions.fragments import LAYER_FEATURES

    ex = cfg.extra
    run_dir = setup_run(cfg, "train_fragment_test")
    base = _load_layerer(ex["layerer"])
    jobs = []
    for count, seed, option, folder in ((ex["designs"], ex["data_seed"], {}, "segments"),
                                        (ex["adjusted_designs"], ex["adjusted_seed"], {"adjusted_photos": 1.0},
                                         "segments-adjusted")):
        if count:
            files = segment_designs(run_dir / folder, seed, count, ex["size"], ex["max_layers"],
                                    workers=ex.get("workers", 1), **option)
            jobs += [(ex["layerer"], ex["max_layers"], str(f), seed, option, ex["size"]) for f in files]
    table = label_designs(jobs, run_dir / "fragments.npz", ex["target"] != "majority", ex.get("workers", 1))
    feats = torch.from_numpy(table["features"].astype(np.float32))  # (m, F)
    targets = torch.from_numpy(targets_from(table, ex["target"]))  # (m,)
    print(f"{len(targets)} proposed layers, {float(targets.mean()):.3f} fragments ({ex['target']})", flush=True)

    torch.manual_seed(cfg.seed)
    model = RegionLayerer(**{**{k: base.config[k] for k in ("region_features", "pair_features", "width", "depth")},
                             "layer_features": LAYER_FEATURES, "layer_width": ex["layer_width"],
                             "layer_depth": ex["layer_depth"]})
    heads = {k: v for k, v in base.state_dict().items() if not k.startswith("layer_net.")}
    model.load_state_dict(heads, strict=False)  # the pair and background heads as trained; a new fragment head
    model.requires_grad_(False)
    model.layer_net.requires_grad_(True)
    acc = Accelerator(mixed_precision=cfg.mixed_precision, cpu=not torch.cuda.is_available())
    opt = torch.optim.AdamW(model.layer_net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    model, opt = acc.prepare(model, opt)
    net = acc.unwrap_model(model)
    ema = EMA(net, cfg.ema_decay)
    log = LossLog(run_dir / "loss.csv", ["loss", "accuracy"], 0)
    bce = torch.nn.BCEWithLogitsLoss()
    x, y = feats.to(acc.device), targets.to(acc.device)
    for step in range(cfg.steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        logits = net.fragment_logits(x)  # (m,)
        loss = bce(logits, y)
        optimizer_step(acc, opt, loss, net.parameters(), 0.0, ema, net, step)
        if (step + 1) % cfg.log_every == 0 or step == 0:
            accuracy = float(((logits > 0).float() == y).float().mean())
            log.write(step, lr_at(step, cfg), {"loss": float(loss.detach()), "accuracy": accuracy})
            print(f"step {step + 1}/{cfg.steps} loss {float(loss.detach()):.4f} acc {accuracy:.3f}", flush=True)
    ema.copy_to(net)
    net.save_pretrained(run_dir / "final" / "layerer")
    write_final(run_dir, cfg, log)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
