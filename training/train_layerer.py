"""Train the region layerer (layerdiff.models.RegionLayerer) on synthetic designs, with accelerate.

    python -m training.train_layerer --designs 2000 --size 512 --steps 3000 --output-dir runs/layerer

Three resumable phases:

1. *segment*: each design of ``SyntheticDesigns(seed, size, 2..max_layers layers)`` is segmented into
   flat-colour regions exactly as at inference (:func:`layerdiff.regions.graph.region_graph`), and
   the count of pixels of each region showing each ground-truth layer is stored,
   ``<output-dir>/segments/<seed>-<index>.npz`` (written atomically; existing files are kept);
2. *features*: region and pair features (:mod:`layerdiff.regions.features`) with their targets
   (relation class, purity weight, background flag), gathered into ``<output-dir>/features.npz``;
3. *train*: AdamW on the pair relation cross-entropy plus the region background cross-entropy,
   minibatches of pairs (both orders averaged, as at inference), EMA, checkpoints and a loss CSV/PNG.

Writes ``<output-dir>/final/layerer`` (config + safetensors, EMA weights) and ``final/training.json``.
Seeds: designs from ``--data-seed``; the minibatch order of step s from (``--seed``, s).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from training.common import (
    EMA,
    LossLog,
    RunConfig,
    add_run_args,
    load_checkpoint,
    lr_at,
    map_tables,
    optimizer_step,
    prune_checkpoints,
    run_config_from,
    save_checkpoint,
    setup_run,
    step_generator,
    write_final,
)

_SEGMENTER: dict[tuple, object] = {}


def _segment_one(job: tuple[str, int, int, int, int, dict]) -> dict[str, np.ndarray]:
    """Segment one design into ``path`` (in a worker process; each design stream is built once there)."""
    from layerdiff.data.synthetic import SyntheticDesigns
    from layerdiff.regions.graph import region_graph, visible_layer_counts

    path, data_seed, index, size, max_layers, stream = job
    key = (data_seed, size, max_layers, tuple(sorted(stream.items())))
    if key not in _SEGMENTER:
        _SEGMENTER[key] = SyntheticDesigns(seed=data_seed, size=size, min_layers=2, max_layers=max_layers, **stream)
    sample = _SEGMENTER[key].sample(index)
    image = (sample.composite * 255 + 0.5).astype(np.uint8)  # (H, W, 4) what a user would hand in
    graph = region_graph(image.astype(np.float32) / 255)
    target = Path(path)
    tmp = target.with_name(target.stem + ".tmp.npz")
    np.savez_compressed(tmp, image=image, labels=graph.regions.labels.astype(np.uint16),
                        counts=visible_layer_counts(graph.regions.labels, sample.stack()))
    os.replace(tmp, target)
    return {"regions": np.array([graph.count])}


def segment_designs(out: Path, data_seed: int, count: int, size: int, max_layers: int, log_every: int = 50,
                    start: int = 0, workers: int = 1, **stream: float) -> list[Path]:
    """Phase 1: segment designs ``start`` to ``count - 1`` of the stream into ``out`` (skipping those
    already there) in ``workers`` processes; ``stream``: further SyntheticDesigns options of the stream
    (the fragment test's ``adjusted_photos``)."""
    out.mkdir(parents=True, exist_ok=True)
    files = [out / f"{data_seed}-{i:05d}.npz" for i in range(start, count)]
    jobs = [(str(f), data_seed, start + n, size, max_layers, dict(stream))
            for n, f in enumerate(files) if not f.is_file()]
    if jobs:
        map_tables(_segment_one, jobs, None, workers, log_every, "segmented designs")
    return files


def design_features(path: Path) -> dict[str, np.ndarray]:
    """Features and targets of one segmented design (region pairs i < j; the other order is derived with
    :func:`layerdiff.regions.features.swap_pairs`)."""
    from layerdiff.regions.features import all_pairs, pair_features, region_features
    from layerdiff.regions.graph import graph_from_labels, relation_targets

    z = np.load(path)
    graph = graph_from_labels(z["image"].astype(np.float32) / 255, z["labels"].astype(np.int64))
    regional = region_features(graph)  # (n, R)
    pairs = all_pairs(graph.count)  # (m, 2)
    rel, weight, background = relation_targets(z["counts"], pairs)
    return {
        "pair": pair_features(graph, pairs, regional),  # (m, P)
        "rel": rel, "weight": weight, "region": regional, "background": background,
    }


def gather_features(files: list[Path], out: Path, log_every: int = 100, workers: int = 1) -> dict[str, np.ndarray]:
    """Phase 2: the features of every design, concatenated in file order (cached in ``out``); ``workers``
    processes compute them."""
    from layerdiff.regions.features import PAIR_FEATURES

    if out.is_file():
        z = np.load(out)
        if int(z["designs"]) == len(files) and z["pair"].shape[1] == PAIR_FEATURES:
            return {k: z[k] for k in z.files}
    return map_tables(design_features, files, out, workers, log_every, "features of designs", designs=len(files))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_args(p)
    p.add_argument("--designs", type=int, default=2000, help="synthetic designs to learn from")
    p.add_argument("--data-seed", type=int, default=1, help="seed of the design stream (eval uses 31337)")
    p.add_argument("--size", type=int, default=512, help="design size in px (the decomposer's work size)")
    p.add_argument("--max-layers", type=int, default=6)
    p.add_argument("--workers", type=int, default=1, help="processes segmenting designs and computing features")
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--background-weight", type=float, default=0.5)
    p.set_defaults(output_dir="runs/layerer", steps=3000, batch_size=4096, lr=2e-3, weight_decay=1e-4,
                   warmup_steps=100, ema_decay=0.999, checkpoint_every=500, log_every=50)
    args = p.parse_args(argv)
    cfg = run_config_from(args, {k: getattr(args, k) for k in (
        "designs", "data_seed", "size", "max_layers", "width", "depth", "background_weight", "workers")})
    return train(cfg)


def train(cfg: RunConfig) -> int:
    from accelerate import Accelerator

    from layerdiff.models.region_layerer import RegionLayerer
    from layerdiff.regions.features import PAIR_FEATURES, REGION_FEATURES, SWAP_INDEX, SWAP_SIGN

    ex = cfg.extra
    run_dir = setup_run(cfg, "train_layerer")
    files = segment_designs(run_dir / "segments", ex["data_seed"], ex["designs"], ex["size"], ex["max_layers"],
                           workers=ex.get("workers", 1))
    table = gather_features(files, run_dir / "features.npz", workers=ex.get("workers", 1))
    acc = Accelerator(mixed_precision=cfg.mixed_precision, cpu=not torch.cuda.is_available())
    pair = torch.from_numpy(np.ascontiguousarray(table["pair"]))
    swap_index, swap_sign = torch.from_numpy(SWAP_INDEX), torch.from_numpy(SWAP_SIGN)
    rel = torch.from_numpy(table["rel"])
    weight = torch.from_numpy(table["weight"])
    region = torch.from_numpy(table["region"])
    background = torch.from_numpy(table["background"])
    counts = torch.bincount(rel, minlength=3).float()
    class_weight = (counts.sum() / (3 * counts.clamp(min=1))).clamp(max=10.0)  # (3,) balance the classes
    print(f"{len(rel)} pairs (same/first/second: {counts.tolist()}), {len(region)} regions", flush=True)

    torch.manual_seed(cfg.seed)
    model = RegionLayerer(region_features=REGION_FEATURES, pair_features=PAIR_FEATURES,
                          width=ex["width"], depth=ex["depth"])
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    model, opt = acc.prepare(model, opt)
    ema = EMA(acc.unwrap_model(model), cfg.ema_decay)
    start = load_checkpoint(run_dir, acc.unwrap_model(model), opt, ema)
    log = LossLog(run_dir / "loss.csv", ["loss", "pair_loss", "background_loss", "pair_accuracy"], start)
    ce = torch.nn.CrossEntropyLoss(weight=class_weight.to(acc.device), reduction="none")
    bce = torch.nn.BCEWithLogitsLoss()
    region_batch = max(1, cfg.batch_size // 8)
    for step in range(start, cfg.steps):
        gen = step_generator(cfg.seed, step)
        idx = torch.randint(len(rel), (cfg.batch_size,), generator=gen)
        ridx = torch.randint(len(region), (region_batch,), generator=gen)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        batch = pair[idx]  # (B, P)
        swapped = batch[:, swap_index] * swap_sign  # (B, P) the same pairs in the other order
        logits = model(batch.to(acc.device), swapped.to(acc.device))  # (B, 3)
        w = weight[idx].to(acc.device)
        pair_loss = (ce(logits, rel[idx].to(acc.device)) * w).sum() / w.sum().clamp(min=1e-6)
        bg_logits = acc.unwrap_model(model).background_logits(region[ridx].to(acc.device))  # (Br,)
        bg_loss = bce(bg_logits, background[ridx].to(acc.device))
        loss = pair_loss + ex["background_weight"] * bg_loss
        optimizer_step(acc, opt, loss, model.parameters(), cfg.grad_clip, ema, acc.unwrap_model(model), step)
        if (step + 1) % cfg.log_every == 0 or step == start:
            accuracy = float((logits.argmax(-1).cpu() == rel[idx]).float().mean())
            log.write(step, lr_at(step, cfg), {"loss": float(loss.detach()), "pair_loss": float(pair_loss.detach()),
                                               "background_loss": float(bg_loss.detach()), "pair_accuracy": accuracy})
            print(f"step {step + 1}/{cfg.steps} loss {float(loss.detach()):.4f} pair acc {accuracy:.3f}", flush=True)
        if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps:
            save_checkpoint(run_dir, step + 1, acc.unwrap_model(model), opt, ema, {"run": asdict(cfg)})
            prune_checkpoints(run_dir)
    final = acc.unwrap_model(model)
    ema.copy_to(final)
    final.save_pretrained(run_dir / "final" / "layerer")
    write_final(run_dir, cfg, log)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
