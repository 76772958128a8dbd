"""Train the layer refiner (layerdiff.models.LayerRefiner) on synthetic layers, with accelerate.

    python -m training.train_refiner --model layerdiff-tiny --designs 6000 --steps 4000 --output-dir runs/refiner

Three resumable phases:

1. *layers*: the foreground layers of ``SyntheticDesigns(--data-seed, --size, 2..--max-layers layers)``
   with their captions, ``<output-dir>/layers.npz`` (uint8 RGBA; written atomically, kept on resume);
2. *phrases*: each distinct caption's phrase embedding by the model's text encoder, exactly as the
   pipelines embed layer prompts (:func:`layerdiff.frames.encode_phrases`), ``<output-dir>/phrases.npz``;
3. *train*: each step degrades a batch of true layers the way the layer transformer's samples fall
   short of them (:func:`degrade`: through the model's autoencoder, the latents pulled toward the
   16-pixel token grid and noised, the outline rounded by a blur and a shifted threshold), crops both
   around the degraded layer's visible part as at inference (:mod:`layerdiff.refine`), flips and
   turns them (``--augment``), and fits the true alpha in the crop by binary cross-entropy plus a soft
   Dice term.
   A share ``--drop-phrase`` of the phrases is blanked, as a caption-only generation has none.

Writes ``<output-dir>/final/refiner`` (config + safetensors, EMA weights) and ``final/training.json``.
Seeds: designs from ``--data-seed``; the batches and degradations of step s from (``--seed``, s).
"""

from __future__ import annotations

import argparse
import functools
from dataclasses import asdict
from pathlib import Path

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
    map_tables,
    optimizer_step,
    prune_checkpoints,
    run_config_from,
    save_checkpoint,
    save_table,
    setup_run,
    step_generator,
    write_final,
)


def design_layers(index: int, data_seed: int, size: int, max_layers: int) -> dict[str, np.ndarray]:
    """The visible foreground layers of one design: rgba (n, S, S, 4) uint8, caption (n,) str."""
    from layerdiff.data.synthetic import SyntheticDesigns

    s = SyntheticDesigns(seed=data_seed, size=size, min_layers=2, max_layers=max_layers).sample(index)
    stack = s.layers.to_numpy()  # (L, S, S, 4)
    keep = [k for k in range(1, len(stack)) if (stack[k, ..., 3] > 0.5).any()]
    rgba = np.round(stack[keep] * 255).astype(np.uint8).reshape(len(keep), size, size, 4)
    return {"rgba": rgba, "caption": np.array([s.layer_captions[k] for k in keep], dtype=object).astype(str)}


def degrade(vae: torch.nn.Module, layers: torch.Tensor, gen: torch.Generator, noise: float = 0.5,
            blur: float = 3.0, blob: float = 8.0) -> torch.Tensor:
    """Coarse versions of true layers (N, 4, H, W) straight RGBA, like the layer transformer's samples.

    The transformer's layers are blocky fragments on its 8-pixel patch grid: missing and extra patches
    at the outline, no thin parts, no holes (MODEL_CARD.md). Per layer, in ``vae``'s latent space:
    pull the latents toward their 2x2 averages (the transformer's 16-pixel tokens) by a share
    m ~ U(0, 1); drop each occupied patch with probability ~ U(0, 0.3); copy a random occupied
    neighbour into each empty patch next to the layer with probability ~ U(0, 0.3); add Gaussian
    noise of scale ~ U(0, ``noise``) on and next to the layer; decode. Then, with probability 0.8,
    blur the alpha and re-threshold it at t ~ U(0.3, 0.6) of its peak through a steep sigmoid: half of
    these with sigma ~ U(0.5, ``blur``) px (rounded corners, filled holes, a grown or shrunk outline),
    half with sigma ~ U(0.15, 0.4) of the shorter side of the layer's box (at most ``blob`` px): a blob
    that keeps the layer's place and size but little of its shape, as the transformer often draws. From a blob only
    the phrase tells a square from a circle, which is what the refiner must learn to read.
    """
    n = layers.shape[0]
    u = torch.rand(n, 8, generator=gen)  # (N, 8) per-layer draws
    with torch.no_grad():
        z = vae.encode_rgba(layers)  # (N, k, h, w)
        grid = F.interpolate(F.avg_pool2d(z, 2, ceil_mode=True), size=z.shape[-2:], mode="nearest")
        z = z + u[:, 0, None, None, None] * (grid - z)
        patch_alpha = F.avg_pool2d(layers[:, 3:], vae.spatial_scale)  # (N, 1, h, w)
        occupied = patch_alpha > 0.25  # (N, 1, h, w)
        near = F.max_pool2d(occupied.float(), 3, 1, 1).bool() & ~occupied  # (N, 1, h, w) the ring outside
        r = torch.rand(n, 2, *z.shape[-2:], generator=gen)  # (N, 2, h, w)
        drop = occupied & (r[:, :1] < 0.3 * u[:, 1, None, None, None])
        shifts = torch.randint(0, 4, (n,), generator=gen)
        neighbour = torch.stack([torch.roll(z[i], (1, -1)[int(s) % 2], dims=1 + int(s) // 2)
                                 for i, s in enumerate(shifts)])  # (N, k, h, w) a neighbouring patch's latents
        grow = near & (r[:, 1:] < 0.3 * u[:, 2, None, None, None])
        z = torch.where(drop, torch.zeros_like(z), torch.where(grow, neighbour, z))
        support = (occupied | near).float()  # (N, 1, h, w)
        z = z + noise * u[:, 3, None, None, None] * support * torch.randn(z.shape, generator=gen)
        out = vae.decode_rgba(z).float().clamp(0, 1)  # (N, 4, H, W)
    alpha = out[:, 3:]  # (N, 1, H, W)
    side = _extent(layers[:, 3])  # (N,) shorter side of each layer's visible box, pixels
    sigma = torch.where(u[:, 6] < 0.5, 0.5 + (blur - 0.5) * u[:, 4],  # a rounded outline
                        (0.15 + 0.25 * u[:, 4]) * side).clamp(0.5, blob)  # a blob of the layer's extent
    radius = int(np.ceil(3 * blob))
    xs = torch.arange(-radius, radius + 1, dtype=torch.float32)  # (K,)
    kern = torch.exp(-0.5 * (xs[None] / sigma[:, None]) ** 2)  # (N, K)
    kern = kern / kern.sum(1, keepdim=True)
    pad = F.pad(alpha.transpose(0, 1), (radius, radius, radius, radius), mode="replicate")  # (1, N, H+2r, W+2r)
    blurred = F.conv2d(pad, kern[:, None, None, :], groups=n)  # (1, N, H+2r, W)
    blurred = F.conv2d(blurred, kern[:, None, :, None], groups=n).transpose(0, 1)  # (N, 1, H, W)
    peak = blurred.flatten(1).amax(1).clamp_min(1e-3)[:, None, None, None]  # (N, 1, 1, 1)
    rounded = torch.sigmoid((blurred / peak - (0.3 + 0.3 * u[:, 5, None, None, None])) * 12.0)
    use = (u[:, 7] < 0.8)[:, None, None, None]
    return torch.cat([out[:, :3], torch.where(use, rounded, alpha)], 1)  # (N, 4, H, W)


def _extent(alpha: torch.Tensor) -> torch.Tensor:
    """(N, H, W) -> (N,) the shorter side in pixels of each alpha's box of alpha > 0.5 (1 when empty)."""
    mask = alpha > 0.5
    rows, cols = mask.any(2).float(), mask.any(1).float()  # (N, H), (N, W)
    return torch.minimum(rows.sum(1), cols.sum(1)).clamp_min(1.0)


def jittered_windows(alpha: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows (N, 3) around each coarse alpha's visible part (margin ~ U(0.2, 0.45), centre moved by up
    to 5% of the side), and which layers have one (N,) bool."""
    from layerdiff.refine import MIN_WINDOW, layer_window

    wins, ok = [], []
    u = torch.rand(alpha.shape[0], 3, generator=gen)  # (N, 3)
    for i in range(alpha.shape[0]):
        w = layer_window(alpha[i], margin=0.2 + 0.25 * float(u[i, 0]))
        ok.append(w is not None)
        cx, cy, side = w if w is not None else (0.0, 0.0, MIN_WINDOW)
        wins.append((cx + 0.05 * side * (2 * float(u[i, 1]) - 1), cy + 0.05 * side * (2 * float(u[i, 2]) - 1), side))
    return torch.tensor(wins), torch.tensor(ok)


AUGMENT_CODES = {"dihedral": 7, "hflip": 1}
"""Mask on the drawn :func:`flip_turn` code: all 8 flips and turns, or mirror images only. Triangles,
stars and hearts point one way in the designs (up, up, down), so turning them teaches the refiner that
a triangle may point anywhere, and from a blob it then draws the average of four: a rounded shape."""


def flip_turn(x: torch.Tensor, code: int) -> torch.Tensor:
    """One of the 8 flips and quarter turns of (N, C, S, S) crops."""
    if code & 1:
        x = x.flip(-1)
    return torch.rot90(x, code >> 1, dims=(-2, -1))


def refiner_loss(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(binary cross-entropy, soft Dice loss) of alpha logits (N, 1, S, S) against target alpha."""
    bce = F.binary_cross_entropy_with_logits(logits, target)
    p = torch.sigmoid(logits)
    inter = (p * target).flatten(1).sum(1)
    dice = 1 - (2 * inter + 1) / (p.flatten(1).sum(1) + target.flatten(1).sum(1) + 1)  # (N,)
    return bce, dice.mean()


def main(argv: list[str] | None = None) -> int:
    from layerdiff.registry import DEFAULT_MODEL

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_args(p)
    p.add_argument("--model", default=DEFAULT_MODEL, help="pipeline whose autoencoder and text encoder to use")
    p.add_argument("--designs", type=int, default=6000)
    p.add_argument("--data-seed", type=int, default=41, help="design stream (held-out benchmarks use 777/778)")
    p.add_argument("--size", type=int, default=128, help="design size in px (the model's native size)")
    p.add_argument("--max-layers", type=int, default=6)
    p.add_argument("--crop-size", type=int, default=64)
    p.add_argument("--widths", type=int, nargs="+", default=[32, 64, 128])
    p.add_argument("--drop-phrase", type=float, default=0.15)
    p.add_argument("--dice-weight", type=float, default=0.5)
    p.add_argument("--augment", choices=sorted(AUGMENT_CODES), default="dihedral",
                   help="crop augmentation: all flips and quarter turns, or horizontal mirroring only")
    p.add_argument("--workers", type=int, default=1, help="processes rendering the designs")
    p.set_defaults(output_dir="runs/refiner", steps=4000, batch_size=48, lr=1e-3, weight_decay=1e-4,
                   warmup_steps=100, ema_decay=0.999, checkpoint_every=500, log_every=50)
    args = p.parse_args(argv)
    cfg = run_config_from(args, {k: getattr(args, k) for k in (
        "model", "designs", "data_seed", "size", "max_layers", "crop_size", "widths", "drop_phrase",
        "dice_weight", "workers", "augment")})
    return train(cfg)


def _tables(run_dir: Path, ex: dict, text_encoder: torch.nn.Module) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Phases 1-2: (rgba (N, S, S, 4) uint8, phrase index (N,), phrase embeddings (U, P) float32)."""
    from layerdiff.frames import encode_phrases

    path = run_dir / "layers.npz"
    if path.is_file():
        table = dict(np.load(path))
    else:
        fn = functools.partial(design_layers, data_seed=ex["data_seed"], size=ex["size"], max_layers=ex["max_layers"])
        table = map_tables(fn, list(range(ex["designs"])), path, workers=ex["workers"], log_every=500)
    captions = table["caption"].astype(str)
    unique, index = np.unique(captions, return_inverse=True)
    phrase_path = run_dir / "phrases.npz"
    if phrase_path.is_file():
        emb = np.load(phrase_path)["emb"]
    else:
        width = int(text_encoder.embed_dim)
        with torch.no_grad():
            chunks = [encode_phrases(text_encoder, [[c] for c in unique[i : i + 256]], width)[:, 0]
                      for i in range(0, len(unique), 256)]
        emb = save_table(phrase_path, {"emb": torch.cat(chunks).numpy().astype(np.float32)})["emb"]
    return table["rgba"], index, emb


def train(cfg: RunConfig) -> int:
    from accelerate import Accelerator

    from layerdiff.models.layer_refiner import LayerRefiner
    from layerdiff.pipelines import LayerGeneratePipeline
    from layerdiff.refine import crop

    ex = cfg.extra
    run_dir = setup_run(cfg, "train_refiner")
    pipe = LayerGeneratePipeline.from_pretrained(ex["model"])
    rgba, phrase_index, emb = _tables(run_dir, ex, pipe.text_encoder)
    print(f"{len(rgba)} layers, {len(emb)} distinct phrases", flush=True)
    rgba_t = torch.from_numpy(rgba)  # (N, S, S, 4) uint8
    emb_t = torch.from_numpy(emb)  # (U, P)
    index_t = torch.from_numpy(phrase_index)  # (N,)

    acc = Accelerator(mixed_precision=cfg.mixed_precision, cpu=not torch.cuda.is_available())
    torch.manual_seed(cfg.seed)
    model = LayerRefiner(text_dim=emb.shape[1], widths=tuple(ex["widths"]), crop_size=ex["crop_size"])
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    model, opt = acc.prepare(model, opt)
    ema = EMA(acc.unwrap_model(model), cfg.ema_decay)
    start = load_checkpoint(run_dir, acc.unwrap_model(model), opt, ema)
    log = LossLog(run_dir / "loss.csv", ["loss", "bce", "dice", "coarse_bce"], start)
    size = int(ex["crop_size"])
    for step in range(start, cfg.steps):
        gen = step_generator(cfg.seed, step)
        idx = torch.randint(len(rgba_t), (cfg.batch_size,), generator=gen)
        true = rgba_t[idx].permute(0, 3, 1, 2).float() / 255  # (B, 4, S, S) straight RGBA
        coarse = degrade(pipe.vae, true, gen)  # (B, 4, S, S)
        windows, ok = jittered_windows(coarse[:, 3], gen)  # (B, 3), (B,)
        premult = torch.cat([coarse[:, :3] * coarse[:, 3:], coarse[:, 3:]], 1)  # (B, 4, S, S)
        x = crop(premult, windows, size)[ok]  # (b, 4, c, c)
        y = crop(true[:, 3:], windows, size)[ok]  # (b, 1, c, c)
        code = int(torch.randint(8, (1,), generator=gen)) & AUGMENT_CODES[ex.get("augment", "dihedral")]
        x, y = flip_turn(x, code), flip_turn(y, code)
        text = emb_t[index_t[idx]][ok]  # (b, P)
        drop = torch.rand(text.shape[0], generator=gen) < ex["drop_phrase"]
        text = torch.where(drop[:, None], torch.zeros_like(text), text)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        logits = model(x.to(acc.device), text.to(acc.device))  # (b, 1, c, c)
        bce, dice = refiner_loss(logits, y.to(acc.device))
        loss = bce + ex["dice_weight"] * dice
        optimizer_step(acc, opt, loss, model.parameters(), cfg.grad_clip, ema, acc.unwrap_model(model), step)
        if (step + 1) % cfg.log_every == 0 or step == start:
            coarse_bce = F.binary_cross_entropy(x[:, 3:].clamp(1e-4, 1 - 1e-4), y)  # the input's own error
            log.write(step, lr_at(step, cfg), {"loss": float(loss.detach()), "bce": float(bce.detach()),
                                               "dice": float(dice.detach()), "coarse_bce": float(coarse_bce)})
            print(f"step {step + 1}/{cfg.steps} loss {float(loss.detach()):.4f} bce {float(bce.detach()):.4f} "
                  f"(coarse {float(coarse_bce):.4f}) dice {float(dice.detach()):.4f}", flush=True)
        if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps:
            save_checkpoint(run_dir, step + 1, acc.unwrap_model(model), opt, ema, {"run": asdict(cfg)})
            prune_checkpoints(run_dir)
    final = acc.unwrap_model(model)
    ema.copy_to(final)
    final.save_pretrained(run_dir / "final" / "refiner")
    write_final(run_dir, cfg, log)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
