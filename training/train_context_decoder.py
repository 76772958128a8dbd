"""Fine-tune the patch autoencoder's context decoder on the latents the generator actually produces.

    python training/train_context_decoder.py pairs --model layerdiff-tiny --seed 21 --start 0 --count 400 \
        --out runs/ctxdec/pairs-0.npz --threads 1
    python training/train_context_decoder.py train --model layerdiff-tiny --pairs runs/ctxdec/pairs-*.npz \
        --context-channels 64 --steps 3000 --output-dir runs/ctxdec

``pairs``: for each synthetic design, SDEdit (Meng et al. 2022): the design's true latents (layers and
composite) are noised to a level s ~ U(0.25, 0.85) and the shipped sampler integrates the tail of its
generation schedule from s to 0 (caption, the layer prompts 70% of the time, the model's generation
guidance). What comes out keeps the design's layout but carries the transformer's own errors (ragged,
broken edges); each layer's latent is paired with the true layer. ``train``: only the context decoder
of :class:`~layerdiff.models.PatchAutoencoder` learns (the encoder, the linear decoder and the
transformer stay fixed, so the latent space does not move); loss: L1 of premultiplied RGBA, on the
generator's latents and, ``--clean-fraction`` of the time, on the true layers' own latents (so a clean
round trip stays exact). Writes ``<output-dir>/final``: the whole pipeline with the new autoencoder,
ready for ``export_embedded.py``.
"""

from __future__ import annotations

import argparse
import glob
import sys
import time
from pathlib import Path

import numpy as np
import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def generator_pairs(pipe, engine, start: int, count: int, seed: int, steps: int = 40,
                    s_range: tuple[float, float] = (0.25, 0.85), phrase_rate: float = 0.7,
                    log_every: int = 20) -> dict[str, np.ndarray]:
    """SDEdit pairs of designs ``start .. start+count-1``: z (M, C, h, w) generated layer latents,
    x (M, 4, H, W) true straight RGBA layers, s (M,) the starting noise level of each."""
    from layerdiff.flow import euler_sample, guidance_combine
    from layerdiff.frames import predict_velocity
    from layerdiff.registry import default_steps

    rng = np.random.default_rng(seed * 1000 + start)
    scale = float(pipe.preset_defaults.get("generate_guidance_scale", 1.0))
    steps = steps or default_steps(pipe.preset_defaults, "generate")
    pipe.scheduler.set_timesteps(sigmas=np.linspace(1.0, 0.0, steps + 1)[:-1].tolist(), device="cpu")
    schedule = pipe.scheduler.sigmas.float()  # (steps + 1,) with the model's time shift, ending at 0
    zs, xs, ss = [], [], []
    t0 = time.time()
    for i in range(start, start + count):
        s = engine.sample(i)
        layers = torch.from_numpy(s.layers.to_numpy()).permute(0, 3, 1, 2).float()  # (L, 4, H, W)
        comp = torch.from_numpy(s.layers.composite()).permute(2, 0, 1)[None].float()  # (1, 4, H, W)
        z = pipe.encode_layers(torch.cat([layers, comp]))[None]  # (1, L + 1, C, h, w)
        known = torch.zeros(1, z.shape[1], dtype=torch.bool)
        s0 = float(rng.uniform(*s_range))
        sigmas = torch.cat([torch.tensor([s0]), schedule[int((schedule > s0).sum()):]])  # s0 -> 0
        emb, mask, neg, neg_mask = pipe.encode_prompt([s.caption], scale)
        phrases = (pipe.encode_layer_phrases([list(s.layer_captions) + [""]])
                   if rng.random() < phrase_rate else None)  # (1, L + 1, P) or None

        def velocity(x: torch.Tensor, sigma: torch.Tensor, step: int, known=known, emb=emb, mask=mask,
                     neg=neg, neg_mask=neg_mask, phrases=phrases) -> torch.Tensor:
            v = predict_velocity(pipe.transformer, x, known, sigma, emb, mask, None, phrases)
            if neg is None:
                return v
            return guidance_combine(v, predict_velocity(pipe.transformer, x, known, sigma, neg, neg_mask, None),
                                    scale)

        noise = torch.randn(z.shape, generator=torch.Generator().manual_seed(i))  # (1, L + 1, C, h, w)
        with torch.no_grad():
            out = euler_sample(velocity, noise, z, known, sigmas)  # (1, L + 1, C, h, w)
        zs.append(out[0, :-1].half().numpy())
        xs.append(layers.half().numpy())
        ss.append(np.full(len(layers), s0, np.float32))
        if log_every and (i - start + 1) % log_every == 0:
            print(f"pairs: {i - start + 1}/{count} designs ({time.time() - t0:.0f} s)", flush=True)
    return {"z": np.concatenate(zs), "x": np.concatenate(xs), "s": np.concatenate(ss)}


def decoder_loss(vae, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """L1 between the decoded and the true layers, both premultiplied. z: (B, C, h, w); x: (B, 4, H, W)."""
    from layerdiff.models.rgba_vae import premultiply

    return (vae.decode_patches(z) - premultiply(x)).abs().mean()


def _load_pairs(patterns: list[str]) -> dict[str, torch.Tensor]:
    files = sorted({f for p in patterns for f in (glob.glob(p) or [p])})
    parts = []
    for f in files:
        try:
            with np.load(f, allow_pickle=False) as t:
                parts.append({k: t[k] for k in ("z", "x", "s")})
        except (OSError, KeyError, ValueError) as e:
            raise SystemExit(f"{f}: not a pairs file written by this script ({e})") from None
    if not parts:
        raise SystemExit("no pairs files given")
    return {k: torch.from_numpy(np.concatenate([p[k] for p in parts])) for k in ("z", "x", "s")}


def train(args) -> int:
    from layerdiff.pipelines import LayerDecomposePipeline
    from training.common import EMA, LossLog, lr_at, run_config_from, setup_run, write_final

    cfg = run_config_from(args, {"context_channels": args.context_channels, "pairs": args.pairs,
                                 "clean_fraction": args.clean_fraction, "val_fraction": args.val_fraction})
    run_dir = setup_run(cfg, "train_context_decoder")
    pipe = LayerDecomposePipeline.from_pretrained(args.model)
    old = pipe.vae
    vae = type(old)(**{**old.config, "context_channels": args.context_channels})
    missing, unexpected = vae.load_state_dict(old.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("context.") for k in missing), (missing, unexpected)
    for name, prm in vae.named_parameters():
        prm.requires_grad_(name.startswith("context."))
    data = _load_pairs(args.pairs)
    n = len(data["z"])
    g = torch.Generator().manual_seed(cfg.seed)
    order = torch.randperm(n, generator=g)
    n_val = max(1, int(n * args.val_fraction))
    val, tr = order[:n_val], order[n_val:]
    params = [p for p in vae.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    ema = EMA(vae, cfg.ema_decay)
    log = LossLog(run_dir / "loss.csv", ["loss", "val_generated", "val_clean"], 0)

    def val_losses(model) -> tuple[float, float]:
        with torch.no_grad():
            z, x = data["z"][val].float(), data["x"][val].float()
            return (float(decoder_loss(model, z, x)), float(decoder_loss(model, model.encode_rgba(x), x)))

    print(f"pairs: {n} layers ({len(tr)} train, {n_val} validation); linear decoder: generated "
          "{:.5f} clean {:.5f}".format(*val_losses(old)), flush=True)
    for step in range(cfg.steps):
        gs = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
        idx = tr[torch.randint(len(tr), (cfg.batch_size,), generator=gs)]
        z, x = data["z"][idx].float(), data["x"][idx].float()  # (B, C, h, w), (B, 4, H, W)
        clean = torch.rand(cfg.batch_size, generator=gs) < args.clean_fraction  # (B,)
        if clean.any():
            with torch.no_grad():
                z[clean] = vae.encode_rgba(x[clean])
        lr = lr_at(step, cfg)
        for group in opt.param_groups:
            group["lr"] = lr
        loss = decoder_loss(vae, z, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        ema.update(vae, step)
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            vals = {"loss": loss.item()}
            if (step + 1) % (cfg.log_every * 10) == 0 or step + 1 == cfg.steps:
                vals["val_generated"], vals["val_clean"] = val_losses(vae)
            log.write(step + 1, lr, vals)
            print(f"step {step + 1} loss {loss.item():.5f} " + " ".join(f"{k} {v:.5f}" for k, v in vals.items()
                                                                      if k != "loss"), flush=True)
    ema.copy_to(vae)
    gen_val, clean_val = val_losses(vae)
    print(f"EMA: validation generated {gen_val:.5f} clean {clean_val:.5f}", flush=True)
    pipe.register_modules(vae=vae.eval().requires_grad_(False))
    pipe.save_pretrained(run_dir / "final")
    write_final(run_dir, cfg, log)
    return 0


def main(argv: list[str] | None = None) -> int:
    from training.common import add_run_args

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    mk = sub.add_parser("pairs", help="make (generated latent, true layer) pairs")
    mk.add_argument("--model", default="layerdiff-tiny")
    mk.add_argument("--seed", type=int, default=21)
    mk.add_argument("--start", type=int, default=0)
    mk.add_argument("--count", type=int, default=400)
    mk.add_argument("--size", type=int, default=None, help="design size (default: the model's native size)")
    mk.add_argument("--steps", type=int, default=40, help="the generation schedule whose tail is integrated")
    mk.add_argument("--threads", type=int, default=1)
    mk.add_argument("--out", required=True)
    tr = sub.add_parser("train", help="train the context decoder on pairs files")
    tr.add_argument("--model", default="layerdiff-tiny", help="pipeline whose autoencoder gets the decoder")
    tr.add_argument("--pairs", nargs="+", required=True)
    tr.add_argument("--context-channels", type=int, default=64)
    tr.add_argument("--clean-fraction", type=float, default=0.25)
    tr.add_argument("--val-fraction", type=float, default=0.05)
    add_run_args(tr)
    args = p.parse_args(argv)
    if args.command == "train":
        return train(args)

    from layerdiff.data.synthetic import SyntheticDesigns
    from layerdiff.pipelines import LayerGeneratePipeline
    from training.common import save_table

    torch.set_num_threads(args.threads)
    pipe = LayerGeneratePipeline.from_pretrained(args.model)
    pipe.set_progress_bar_config(disable=True)
    engine = SyntheticDesigns(seed=args.seed, size=args.size or pipe.native_resolution, min_layers=2,
                              max_layers=min(4, pipe.max_layers))
    table = generator_pairs(pipe, engine, args.start, args.count, args.seed, steps=args.steps)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    save_table(Path(args.out), table)
    print(f"wrote {args.out}: {len(table['z'])} layers", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
