"""Tests of the linear patch autoencoder (layerdiff/models/patch_vae.py)."""

from __future__ import annotations

import pytest
import torch
from model_mixin import RGBAAutoencoderTesterMixin, random_rgba

from layerdiff.models import PatchAutoencoder, patchify, unpatchify


def fitted(seed: int = 0, k: int = 16) -> PatchAutoencoder:
    """Fitted like real layers: many patches are fully transparent."""
    vae = PatchAutoencoder(patch_size=8, latent_channels=k)
    vae.fit_pca([random_rgba(4, 32, 32, seed), random_rgba(2, 16, 48, seed + 1), torch.zeros(12, 4, 32, 32)])
    return vae.eval()


class TestPatchAutoencoderModel(RGBAAutoencoderTesterMixin):
    input_seed = 3

    def make_model(self) -> PatchAutoencoder:
        return fitted()


def test_patchify_roundtrip():
    x = torch.randn(2, 4, 16, 24)
    p = patchify(x, 8)
    assert p.shape == (2, 2, 3, 256)
    assert torch.equal(unpatchify(p, 8, 4), x)
    assert torch.equal(p[0, 0, 0, :64], x[0, 0, :8, :8].flatten())  # (channel, row, column) order


def test_full_rank_fit_reconstructs_exactly():
    x = random_rgba(3, 16, 16)
    vae = PatchAutoencoder(patch_size=2, latent_channels=16)  # d = 4 * 2 * 2 = 16: full rank
    vae.fit_pca(x)
    out = vae.decode_rgba_premultiplied(vae.encode_rgba(x))
    pre = torch.cat([x[:, :3] * x[:, 3:], x[:, 3:]], 1)
    torch.testing.assert_close(out, pre, atol=1e-5, rtol=0)


def test_low_rank_data_is_recovered_and_latents_are_whitened():
    g = torch.Generator().manual_seed(0)
    basis = torch.rand(3, 4, 8, 8, generator=g)  # three patch patterns
    coeff = torch.rand(400, 3, generator=g) / 3
    patches = torch.einsum("nk,kchw->nchw", coeff, basis).clamp(0, 1)  # (400, 4, 8, 8)
    patches[:, 3] = 1.0  # opaque: premultiplied colour = colour
    img = patches.reshape(20, 20, 4, 8, 8).permute(2, 0, 3, 1, 4).reshape(1, 4, 160, 160)
    vae = PatchAutoencoder(patch_size=8, latent_channels=4)
    ratios = vae.fit_pca(img)
    assert ratios[:4].sum() > 0.9999  # three colour patterns + the constant alpha plane
    z = vae.encode_rgba(img)
    assert z.shape == (1, 4, 20, 20)
    second_moment = z[0].flatten(1).pow(2).mean(dim=1)  # uncentred fit: unit second moments
    torch.testing.assert_close(second_moment, torch.ones(4), atol=0.02, rtol=0)
    torch.testing.assert_close(vae.decode_rgba(z), img, atol=1e-4, rtol=0)


def test_invisible_colour_does_not_reach_the_latent_and_decodes_to_nothing():
    vae = fitted()
    x = random_rgba(1, 16, 16)
    y = x.clone()
    hidden = x[:, 3:4] == 0
    y[:, :3] = torch.where(hidden, torch.rand_like(y[:, :3]), y[:, :3])
    assert torch.equal(vae.encode_rgba(x), vae.encode_rgba(y))
    empty = vae.decode_rgba(vae.encode_rgba(torch.zeros(1, 4, 16, 16)))
    assert empty[:, 3].abs().max() <= 1e-6  # transparent in, transparent out (alpha snapped to 0)


def test_bad_inputs_and_configs():
    vae = fitted()
    with pytest.raises(ValueError, match="multiples of 8"):
        vae.encode_rgba(torch.zeros(1, 4, 12, 16))
    with pytest.raises(ValueError, match=r"\(N, 4, H, W\)"):
        vae.encode_rgba(torch.zeros(1, 3, 16, 16))
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        vae.encode_rgba(torch.full((1, 4, 8, 8), 2.0))
    with pytest.raises(ValueError, match="latents must have shape"):
        vae.decode_rgba(torch.zeros(1, 3, 2, 2))
    with pytest.raises(ValueError, match="latent_channels"):
        PatchAutoencoder(patch_size=2, latent_channels=17)
    with pytest.raises(ValueError, match="at least two patches"):
        PatchAutoencoder(patch_size=8).fit_pca(torch.zeros(1, 4, 8, 8))


def test_fit_script_writes_a_loadable_vae(tmp_path):
    from training import fit_patch_vae

    assert fit_patch_vae.main(["--model", "layerdiff-tiny", "--samples", "6", "--size", "64", "--eval", "2",
                               "--output-dir", str(tmp_path)]) == 0
    vae = PatchAutoencoder.from_pretrained(tmp_path / "final" / "vae")
    assert vae.latent_channels == 16
    import json

    report = json.loads((tmp_path / "fit.json").read_text())
    assert report["composite_psnr_db"] > 15 and 0 <= report["alpha_mae"] < 0.1
