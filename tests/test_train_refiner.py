"""training/train_refiner.py: the degradation, the data phases and a short resumable run."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from layerdiff.models import LayerRefiner
from layerdiff.models.patch_vae import PatchAutoencoder
from training import train_refiner


def _square_layers() -> torch.Tensor:
    layers = torch.zeros(4, 4, 64, 64)
    layers[:, 0] = 1.0
    layers[:, 3, 16:48, 20:44] = 1.0  # a red box
    return layers


def test_degrade_is_seeded_and_leaves_the_layer_near_its_place():
    vae = PatchAutoencoder(patch_size=8, latent_channels=256)  # identity-like: what degrade adds is visible
    layers = _square_layers()
    a = train_refiner.degrade(vae, layers, torch.Generator().manual_seed(0))
    b = train_refiner.degrade(vae, layers, torch.Generator().manual_seed(0))
    c = train_refiner.degrade(vae, layers, torch.Generator().manual_seed(1))
    assert a.shape == layers.shape and float(a.min()) >= 0 and float(a.max()) <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a[:, 3], layers[:, 3])  # the outline really changed
    far = torch.ones(64, 64, dtype=torch.bool)
    far[4:60, 8:56] = False  # more than a patch and a blur away from the box
    assert float(a[:, 3][:, far].max()) < 0.5


def test_flip_turn_covers_the_eight_symmetries_and_hflip_only_mirrors():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    outs = {tuple(train_refiner.flip_turn(x, code).flatten().tolist()) for code in range(8)}
    assert len(outs) == 8
    mirrored = {tuple(train_refiner.flip_turn(x, code & train_refiner.AUGMENT_CODES["hflip"]).flatten().tolist())
                for code in range(8)}
    assert mirrored == {tuple(x.flatten().tolist()), tuple(x.flip(-1).flatten().tolist())}  # up stays up


def test_a_short_run_writes_a_refiner_and_resumes(tmp_path: Path):
    out = tmp_path / "ref"
    args = ["--model", "tiny-random", "--designs", "3", "--size", "32", "--max-layers", "3", "--crop-size", "16",
            "--widths", "8", "16", "--batch-size", "4", "--warmup-steps", "1", "--log-every", "1",
            "--checkpoint-every", "2", "--augment", "hflip", "--output-dir", str(out)]
    assert train_refiner.main([*args, "--steps", "2"]) == 0
    table = np.load(out / "layers.npz")
    assert table["rgba"].dtype == np.uint8 and table["rgba"].shape[1:] == (32, 32, 4)
    assert len(table["caption"]) == len(table["rgba"]) > 0
    assert np.load(out / "phrases.npz")["emb"].shape[1] == 32  # the tiny text encoder's width
    first = LayerRefiner.from_pretrained(out / "final" / "refiner")
    assert first.config.crop_size == 16 and list(first.config.widths) == [8, 16]
    assert train_refiner.main([*args, "--steps", "3"]) == 0  # continues from checkpoint 2
    with (out / "loss.csv").open() as fh:
        steps = [int(r["step"]) for r in csv.DictReader(fh)]
    assert steps == [0, 1, 2]
