"""Fit the linear patch autoencoder (layerdiff.models.PatchAutoencoder) by PCA on synthetic designs.

    python -m training.fit_patch_vae --samples 1000 --size 128 --output-dir runs/patchvae

Patches come from every layer and the composite of ``--samples`` designs (seeded); a further
``--eval`` held-out designs (another seed) measure the reconstruction: composite PSNR and the mean
absolute alpha error per layer. Writes ``<output-dir>/final/vae`` (config + safetensors) and
``<output-dir>/fit.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch


def reconstruction_report(vae, engine, count: int) -> dict[str, float]:
    """Composite PSNR (dB) and per-layer alpha MAE of encode -> decode on ``count`` designs."""
    psnr, alpha = [], []
    for i in range(count):
        s = engine.sample(i)
        comp = torch.from_numpy(s.layers.composite()).permute(2, 0, 1)[None]  # (1, 4, H, W)
        layers = torch.from_numpy(s.layers.to_numpy()).permute(0, 3, 1, 2)  # (L, 4, H, W)
        with torch.no_grad():
            rc = vae.decode_rgba(vae.encode_rgba(comp))
            rl = vae.decode_rgba(vae.encode_rgba(layers))
        mse = float(((rc[:, :3] - comp[:, :3]) ** 2).mean())
        psnr.append(10 * np.log10(1 / max(mse, 1e-10)))
        alpha.append(float((rl[:, 3] - layers[:, 3]).abs().mean()))
    return {"composite_psnr_db": float(np.mean(psnr)), "alpha_mae": float(np.mean(alpha))}


def main(argv: list[str] | None = None) -> int:
    from layerdiff.data.synthetic import SyntheticDesigns
    from layerdiff.registry import DEFAULT_MODEL, get_preset

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=DEFAULT_MODEL, help="registry preset giving the VAE config")
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--max-layers", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval", type=int, default=24)
    p.add_argument("--output-dir", default="runs/patchvae")
    args = p.parse_args(argv)

    spec = get_preset(args.model).components["vae"]
    vae = spec.load_class()(**spec.config)
    engine = SyntheticDesigns(seed=args.seed, size=args.size, min_layers=1, max_layers=args.max_layers)
    t0 = time.time()
    chunks = []
    for i in range(args.samples):
        s = engine.sample(i)
        stack = np.concatenate([s.layers.to_numpy(), s.layers.composite()[None]])  # (L + 1, H, W, 4)
        chunks.append(torch.from_numpy(stack).permute(0, 3, 1, 2))
    ratios = vae.fit_pca(chunks)
    k = vae.latent_channels
    held_out = SyntheticDesigns(seed=args.seed + 4242, size=args.size, min_layers=2, max_layers=5)
    report = {"samples": args.samples, "size": args.size, "seed": args.seed, "seconds": round(time.time() - t0, 1),
              "explained_variance": float(ratios[:k].sum()), **reconstruction_report(vae, held_out, args.eval)}
    out = Path(args.output_dir)
    vae.save_pretrained(out / "final" / "vae", safe_serialization=True)
    (out / "fit.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
