"""training/train_context_decoder.py: SDEdit pairs from the generator, then the context decoder alone learns."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from layerdiff.models import PatchAutoencoder
from layerdiff.pipelines import LayerDecomposePipeline
from training import train_context_decoder as tcd


@pytest.fixture(scope="module")
def patch_pipe(tmp_path_factory, tiny_components) -> Path:
    """A tiny random pipeline whose autoencoder is a fitted PatchAutoencoder, saved to a folder."""
    from layerdiff.data.synthetic import SyntheticDesigns

    designs = SyntheticDesigns(seed=0, size=32, min_layers=2, max_layers=3)
    stacks = [torch.from_numpy(designs.sample(i).layers.to_numpy()).permute(0, 3, 1, 2) for i in range(6)]
    vae = PatchAutoencoder(patch_size=8, latent_channels=16)
    vae.fit_pca(stacks)
    folder = tmp_path_factory.mktemp("patch-pipe") / "pipe"
    LayerDecomposePipeline(**{**tiny_components, "vae": vae.eval()}).save_pretrained(folder)
    return folder


def test_pairs_then_training_leave_the_latent_space_and_teach_the_decoder(tmp_path, patch_pipe):
    pairs = tmp_path / "pairs.npz"
    assert tcd.main(["pairs", "--model", str(patch_pipe), "--seed", "3", "--count", "3", "--steps", "4",
                     "--out", str(pairs)]) == 0
    with np.load(pairs) as t:
        z, x, s = t["z"], t["x"], t["s"]
    assert z.shape[1:] == (16, 4, 4) and x.shape[1:] == (4, 32, 32) and len(z) == len(x) == len(s) >= 6
    assert ((s >= 0.25) & (s <= 0.85)).all()
    run = tmp_path / "run"
    assert tcd.main(["train", "--model", str(patch_pipe), "--pairs", str(pairs), "--context-channels", "4",
                     "--steps", "3", "--batch-size", "4", "--log-every", "1", "--warmup-steps", "1",
                     "--val-fraction", "0.2", "--output-dir", str(run)]) == 0
    with (run / "loss.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in rows] == [1, 2, 3] and all(np.isfinite(float(r["loss"])) for r in rows)
    old = PatchAutoencoder.from_pretrained(patch_pipe / "vae")
    new = PatchAutoencoder.from_pretrained(run / "final" / "vae")
    assert new.config.context_channels == 4 and new.context[-1].weight.abs().sum() > 0  # it learned
    for name in ("encoder", "decoder", "patch_mean"):  # the latent space did not move
        assert torch.equal(getattr(new, name), getattr(old, name))
    pipe = LayerDecomposePipeline.from_pretrained(run / "final")
    assert isinstance(pipe.vae, PatchAutoencoder) and pipe.vae.context is not None


def test_the_decoder_loss_falls_on_a_fixed_batch(patch_pipe):
    old = PatchAutoencoder.from_pretrained(patch_pipe / "vae")
    vae = PatchAutoencoder(**{**old.config, "context_channels": 8})
    vae.load_state_dict(old.state_dict(), strict=False)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 4, 32, 32, generator=g)
    x[:, 3] = (x[:, 3] > 0.5).float()
    z = vae.encode_rgba(x).detach() + 0.3 * torch.randn(4, 16, 4, 4, generator=g)  # latents a generator got wrong
    opt = torch.optim.Adam(vae.context.parameters(), lr=1e-2)
    first = tcd.decoder_loss(vae, z, x).item()
    for _ in range(60):
        loss = tcd.decoder_loss(vae, z, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert tcd.decoder_loss(vae, z, x).item() < 0.8 * first


def test_a_file_that_is_not_a_pairs_file_is_named(tmp_path, patch_pipe):
    bad = tmp_path / "bad.npz"
    np.savez(bad, z=np.zeros((1, 16, 4, 4)))
    with pytest.raises(SystemExit, match="bad.npz: not a pairs file"):
        tcd.main(["train", "--model", str(patch_pipe), "--pairs", str(bad), "--steps", "1",
                  "--output-dir", str(tmp_path / "run")])
