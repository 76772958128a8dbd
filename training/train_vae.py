"""Train the RGBA VAE on single layers and composites of synthetic designs (and PSD layers).

    python -m training.train_vae --blocks 32,64,128,128 --steps 3000 --output-dir runs/vae

Each batch mixes straight-alpha layers (objects with soft shadows, text, icons, semi-transparent
panels) and opaque composites, as Qwen-Image-Layered trains its RGBA-VAE on RGB images and RGBA
layers. Losses (layerdiff.models.losses): alpha-weighted L1, L1 of the layer composited over random
backgrounds (so fringes cost loss), an edge term, SSIM and a small KL. At the end the latent
statistics are measured and stored in the VAE config (the VAE owns its latent scaling), and the
EMA weights are written to ``<output-dir>/final/vae`` (safetensors).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict

import numpy as np
import torch

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
    sample_indices,
    save_checkpoint,
    setup_run,
    step_generator,
    write_final,
)


def vae_batch(engine, indices: list[int], rng: np.random.Generator, p_composite: float = 0.25,
              crop: int | None = None) -> torch.Tensor:
    """(B, 4, H, W) straight RGBA: per sample one random layer (preferring non-empty crops), or the
    opaque composite; with ``crop``, a random crop x crop window (the VAE is convolutional)."""
    out = []
    for i in indices:
        s = engine.sample(i)
        stack = s.layers.to_numpy()  # (n, H, W, 4)
        if rng.random() < p_composite or len(stack) == 1:
            img = s.layers.composite()
        else:
            img = stack[int(rng.integers(len(stack)))]
        if crop is not None and crop < img.shape[0]:
            img = _crop(img, crop, rng)
        out.append(img)
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous()


def _crop(img: np.ndarray, size: int, rng: np.random.Generator, tries: int = 4) -> np.ndarray:
    """A random size x size window, re-drawn up to ``tries`` times to land on visible content."""
    h, w = img.shape[:2]
    for _ in range(tries):
        y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        win = img[y : y + size, x : x + size]
        if win[..., 3].max() > 0:
            break
    return np.ascontiguousarray(win)


def build_vae(blocks: tuple[int, ...], layers_per_block: int, seed: int):
    """A freshly initialised convolutional RGBA VAE (:class:`~layerdiff.models.RGBAAutoencoder`, 8x downsampling
    with four blocks) of these block widths."""
    from layerdiff.models import RGBAAutoencoder

    torch.manual_seed(seed)
    return RGBAAutoencoder(block_out_channels=tuple(blocks), layers_per_block=layers_per_block,
                           norm_num_groups=min(8, blocks[0]))


@torch.no_grad()
def measure_latent_stats(vae, engine, start: int, count: int, rng: np.random.Generator) -> tuple[list, list]:
    """Per-channel mean and std of raw posterior modes over ``count`` held-out samples."""
    zs = []
    for k in range(0, count, 8):
        x = vae_batch(engine, list(range(start + k, start + min(count, k + 8))), rng)
        zs.append(vae.encode_rgba_posterior(x).mode())  # (b, C, h, w)
    z = torch.cat(zs).transpose(0, 1).flatten(1)  # (C, N*h*w)
    return z.mean(dim=1).tolist(), z.std(dim=1).clamp_min(1e-3).tolist()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--blocks", default="32,64,128,128", help="channel widths of the VAE's blocks (comma-separated)")
    p.add_argument("--layers-per-block", type=int, default=1)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--max-layers", type=int, default=6)
    p.add_argument("--crop", type=int, default=None, help="train on random crops of this size")
    add_run_args(p)
    args = p.parse_args(argv)
    blocks = [int(b) for b in args.blocks.split(",")]
    return train(run_config_from(args, {"blocks": blocks, "layers_per_block": args.layers_per_block,
                                        "size": args.size, "max_layers": args.max_layers, "crop": args.crop}))


def train(cfg: RunConfig) -> int:
    from accelerate import Accelerator

    from layerdiff.data.synthetic import SyntheticDesigns
    from layerdiff.models.losses import rgba_vae_loss

    ex = cfg.extra
    run_dir = setup_run(cfg, "train_vae")
    acc = Accelerator(mixed_precision=cfg.mixed_precision, cpu=not torch.cuda.is_available())
    vae = build_vae(tuple(ex["blocks"]), int(ex.get("layers_per_block", 1)), cfg.seed)
    vae.train()
    opt = torch.optim.AdamW(vae.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    ema = EMA(vae, cfg.ema_decay)
    start = load_checkpoint(run_dir, vae, opt, ema)
    vae, opt = acc.prepare(vae, opt)
    engine = SyntheticDesigns(seed=cfg.seed, size=int(ex["size"]), min_layers=1, max_layers=int(ex["max_layers"]))
    terms = ["loss", "recon", "composite", "kl", "edge", "ssim"]
    log = LossLog(run_dir / "loss.csv", terms, start)
    rank, world = acc.process_index, acc.num_processes
    model = acc.unwrap_model(vae)
    for step in range(start, cfg.steps):
        gen = step_generator(cfg.seed, step, rank)
        rng = np.random.default_rng([cfg.seed, step, rank])
        x = vae_batch(engine, sample_indices(step, cfg.batch_size, rank, world), rng, crop=ex.get("crop"))
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        rec = model.reconstruct_rgba(x, sample=True, generator=gen)
        out = rgba_vae_loss(rec.rgba, x.to(rec.rgba.device), rec.posterior.mean, rec.posterior.logvar, generator=gen)
        optimizer_step(acc, opt, out["loss"], vae.parameters(), cfg.grad_clip, ema, model, step)
        if acc.is_main_process:
            log.write(step, lr_at(step, cfg), {k: float(out[k].detach()) for k in terms})
            if (step + 1) % cfg.log_every == 0:
                print(f"step {step + 1}/{cfg.steps} " + " ".join(f"{k} {float(out[k].detach()):.4f}" for k in terms),
                      flush=True)
            if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps:
                save_checkpoint(run_dir, step + 1, model, opt, ema, {"run": asdict(cfg)})
                prune_checkpoints(run_dir)
    if acc.is_main_process:
        ema.copy_to(model)
        model.eval()
        mean, std = measure_latent_stats(model, engine, 10_000_000, 64, np.random.default_rng(cfg.seed))
        model.set_latent_normalization(mean, std)
        model.save_pretrained(run_dir / "final" / "vae", safe_serialization=True)
        write_final(run_dir, cfg, log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
