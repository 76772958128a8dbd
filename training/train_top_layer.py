"""Train the top-layer network (layerdiff.models.TopLayerNet) on synthetic designs, with accelerate.

    python -m training.train_top_layer --designs 2000 --native-size 64 --steps 1500 --max-minutes 45 \
        --threads 1 --output-dir runs/top_layer

LayerD's recipe (Suzuki et al. 2025): the network sees a composite and predicts the alpha of its top,
unoccluded layers; the decomposer (:mod:`layerdiff.layerd`) removes them, inpaints what they hid and asks
again. Training pairs come from the ground-truth stacks of ``SyntheticDesigns(--data-seed)``: the top
layers of a stack are those no layer above overlaps (:func:`top_layers`), the target is their union's
alpha, and the next composite is the stack without them, so one design gives one pair per peel
(:func:`peel_examples`), the last one the background alone with an empty target. A share
``--transparent`` of designs drops its background layer, so the composites have transparency (stickers)
and the last peel takes what is left.

The pool of designs grows while training: each step renders ``--designs-per-step`` new designs until
``--designs`` are in it, and draws its batch from the pool (random horizontal flips). The loss is binary
cross-entropy plus a soft Dice term on the target alpha. ``--max-minutes`` stops the run early (the
weights at that step are written as the final ones). Seeds 2718 (validation) and 31337 (test) are refused
as data seeds.

Writes ``<output-dir>/final/top_layer`` (config + safetensors, EMA weights) and ``final/training.json``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict

import numpy as np
import torch
from torch.nn import functional as F

from training.common import (
    EMA,
    LossLog,
    RunConfig,
    add_run_args,
    load_checkpoint,
    lr_at,
    optimizer_step,
    prune_checkpoints,
    run_config_from,
    save_checkpoint,
    setup_run,
    step_generator,
    write_final,
)

HELD_OUT_SEEDS = (2718, 31337)
"""Synthetic seeds never trained on: validation (2718) and test (31337)."""


def top_layers(alphas: np.ndarray, present: list[int], floor: int | None = None, level: float = 0.1,
               tolerance: float = 0.01) -> list[int]:
    """The layers of ``present`` (indices into ``alphas`` (L, H, W), bottom to top) that no present layer
    above overlaps: pixels where both alphas exceed ``level`` number at most ``tolerance`` of the lower
    layer's own pixels (and at most 2 px more, for anti-aliased edges that touch). ``floor``: a layer
    never returned (the opaque background)."""
    masks = {k: alphas[k] > level for k in present}
    tops = []
    for i, k in enumerate(present):
        if k == floor:
            continue
        area = int(masks[k].sum())
        if area == 0:
            continue
        limit = tolerance * area + 2
        if all(int((masks[k] & masks[j]).sum()) <= limit for j in present[i + 1:]):
            tops.append(k)
    return tops


def _composite(stack: np.ndarray, keep: list[int]) -> np.ndarray:
    from layerdiff.data.synth_raster import composite_stack

    if not keep:
        return np.zeros(stack.shape[1:], np.float32)
    return composite_stack(stack[keep])  # (H, W, 4)


def peel_examples(stack: np.ndarray, opaque_background: bool = True) -> list[tuple[np.ndarray, np.ndarray]]:
    """(composite (H, W, 4), target alpha (H, W)) pairs of one ground-truth stack (L, H, W, 4), bottom to top:
    the composite of the layers left, and the union alpha of their top layers; the top layers are then
    removed. With ``opaque_background`` layer 0 is never removed and the last pair is the background alone
    with an empty target; without it, peeling goes on until nothing is left."""
    alphas = stack[..., 3]  # (L, H, W)
    present = [k for k in range(len(stack)) if (alphas[k] > 0.1).any() or (opaque_background and k == 0)]
    floor = 0 if opaque_background else None
    out = []
    while present:
        image = _composite(stack, present)  # (H, W, 4)
        tops = top_layers(alphas, present, floor)
        if not tops:
            out.append((image, np.zeros(alphas.shape[1:], np.float32)))
            break
        target = 1.0 - np.prod(1.0 - alphas[tops], axis=0)  # (H, W) the union's alpha
        out.append((image, target.astype(np.float32)))
        present = [k for k in present if k not in tops]
        if present == [floor]:
            out.append((_composite(stack, present), np.zeros(alphas.shape[1:], np.float32)))
            break
    return out


def design_examples(designs, index: int, transparent: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`peel_examples` of design ``index`` of a ``SyntheticDesigns`` stream, as uint8 (composite) and
    float16 (target); a share ``transparent`` of designs (decided by the design's own seed) drops its
    background."""
    sample = designs.sample(index)
    stack = sample.stack()  # (L, S, S, 4)
    drop = np.random.default_rng([designs.seed, index, 7]).random() < transparent and len(stack) > 1
    if drop:
        stack = stack[1:]
    return [(np.round(img * 255).astype(np.uint8), tgt.astype(np.float16))
            for img, tgt in peel_examples(stack, opaque_background=not drop)]


def dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - soft Dice per sample (an empty target against an empty prediction counts as a match), averaged."""
    prob = torch.sigmoid(logits).flatten(1)  # (B, N)
    t = target.flatten(1)  # (B, N)
    inter = (prob * t).sum(1)
    return (1.0 - (2 * inter + 1.0) / (prob.sum(1) + t.sum(1) + 1.0)).mean()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_args(p)
    p.add_argument("--designs", type=int, default=2000, help="synthetic designs in the pool")
    p.add_argument("--designs-per-step", type=int, default=2, help="new designs rendered per step until full")
    p.add_argument("--data-seed", type=int, default=5, help="seed of the design stream (not 2718 or 31337)")
    p.add_argument("--design-size", type=int, default=128, help="the size designs are laid out for (text sizes)")
    p.add_argument("--native-size", type=int, default=64, help="the network's native side in px")
    p.add_argument("--max-layers", type=int, default=6)
    p.add_argument("--widths", type=str, default="16,32,64", help="U-Net widths per level")
    p.add_argument("--transparent", type=float, default=0.15, help="share of designs without a background")
    p.add_argument("--dice-weight", type=float, default=1.0)
    p.add_argument("--max-minutes", type=float, default=0.0, help="stop after this wall time (0: no limit)")
    p.set_defaults(output_dir="runs/top_layer", steps=1500, batch_size=16, lr=2e-3, weight_decay=1e-4,
                   warmup_steps=50, ema_decay=0.995, checkpoint_every=250, log_every=10)
    args = p.parse_args(argv)
    if args.data_seed in HELD_OUT_SEEDS:
        p.error(f"--data-seed {args.data_seed} is held out (validation 2718, test 31337)")
    cfg = run_config_from(args, {k: getattr(args, k) for k in (
        "designs", "designs_per_step", "data_seed", "design_size", "native_size", "max_layers", "widths",
        "transparent", "dice_weight", "max_minutes")})
    return train(cfg)


def train(cfg: RunConfig) -> int:
    from accelerate import Accelerator

    from layerdiff.data.synthetic import SyntheticDesigns
    from layerdiff.models.top_layer import TopLayerNet

    t0 = time.time()
    ex = cfg.extra
    run_dir = setup_run(cfg, "train_top_layer")
    acc = Accelerator(mixed_precision=cfg.mixed_precision, cpu=not torch.cuda.is_available())
    designs = SyntheticDesigns(seed=ex["data_seed"], size=ex["design_size"], min_layers=1,
                               max_layers=ex["max_layers"], render_size=ex["native_size"])
    widths = tuple(int(w) for w in str(ex["widths"]).split(","))
    torch.manual_seed(cfg.seed)
    model = TopLayerNet(widths=widths, native_size=ex["native_size"])
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    model, opt = acc.prepare(model, opt)
    ema = EMA(acc.unwrap_model(model), cfg.ema_decay)
    start = load_checkpoint(run_dir, acc.unwrap_model(model), opt, ema)
    log = LossLog(run_dir / "loss.csv", ["loss", "bce", "dice"], start)
    images: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    rendered = 0
    # a resumed run renders the designs the pool held at its step again (the pool is a function of the step)
    backlog = min(ex["designs"], max(ex["designs_per_step"], start * ex["designs_per_step"]))
    step = start
    for step in range(start, cfg.steps):
        goal = min(ex["designs"], max(backlog, (step + 1) * ex["designs_per_step"]))
        while rendered < goal:
            for img, tgt in design_examples(designs, rendered, ex["transparent"]):
                images.append(img)
                targets.append(tgt)
            rendered += 1
        gen = step_generator(cfg.seed, step)
        idx = torch.randint(len(images), (cfg.batch_size,), generator=gen).tolist()
        flip = torch.rand(cfg.batch_size, generator=gen) < 0.5  # (B,)
        x = torch.from_numpy(np.stack([images[i] for i in idx])).permute(0, 3, 1, 2).float() / 255  # (B, 4, S, S)
        y = torch.from_numpy(np.stack([targets[i] for i in idx]).astype(np.float32))[:, None]  # (B, 1, S, S)
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        y = torch.where(flip[:, None, None, None], y.flip(-1), y)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        logits = model(x.to(acc.device))  # (B, 1, S, S)
        y = y.to(acc.device)
        bce = F.binary_cross_entropy_with_logits(logits, y)
        dice = dice_loss(logits, y)
        loss = bce + ex["dice_weight"] * dice
        optimizer_step(acc, opt, loss, model.parameters(), cfg.grad_clip, ema, acc.unwrap_model(model), step)
        if (step + 1) % cfg.log_every == 0 or step == start:
            values = {"loss": float(loss.detach()), "bce": float(bce.detach()), "dice": float(dice.detach())}
            log.write(step, lr_at(step, cfg), values)
            print(f"step {step + 1}/{cfg.steps} loss {values['loss']:.4f} bce {values['bce']:.4f} "
                  f"dice {values['dice']:.4f} pool {len(images)} ({time.time() - t0:.0f} s)", flush=True)
        out_of_time = ex.get("max_minutes", 0) and time.time() - t0 > 60 * ex["max_minutes"]
        if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps or out_of_time:
            save_checkpoint(run_dir, step + 1, acc.unwrap_model(model), opt, ema, {"run": asdict(cfg)})
            prune_checkpoints(run_dir)
        if out_of_time:
            print(f"stopped at step {step + 1}: --max-minutes {ex['max_minutes']} reached", flush=True)
            break
    final = acc.unwrap_model(model)
    ema.copy_to(final)
    final.save_pretrained(run_dir / "final" / "top_layer")
    write_final(run_dir, cfg, log)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
